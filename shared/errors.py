"""The root of every Autograder exception, and the kinds the message consumer maps.

The consumer decides ack/retry/dead-letter from these kinds in one place
(shared/messaging/consumer.py): transient -> retry (bounded), poison -> dead-letter.
Business failures never raise: they are failed StepResults.
"""


class AutograderError(Exception):
    """Root of all project exceptions."""


class TransientError(AutograderError):
    """Worth retrying: a dependency was briefly unavailable."""


class PoisonMessage(AutograderError, ValueError):
    """Can never succeed: malformed or of an unknown type. Dead-lettered at once."""
