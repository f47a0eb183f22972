"""structlog setup: JSON lines in services, a console renderer on a TTY.

Per-message fields (service, submission_id, step, message_id) are bound through
contextvars by the consumer, so every line a handler logs carries them.
"""

import logging
import sys

import structlog


def _stderr_logger(*_: object) -> structlog.PrintLogger:
    # sys.stderr read at each log call, not at configure time: it may be replaced since.
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(service: str, fmt: str = "auto", level: str = "INFO") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
