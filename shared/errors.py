"""The root of every Autograder exception, and the kinds the message consumer maps.

The consumer decides ack/retry/dead-letter from these kinds in one place
(shared/messaging/consumer.py): transient -> retry (bounded), poison -> dead-letter.
Business failures never raise: they are failed StepResults.
"""


class AutograderError(Exception):
    """Root of all project exceptions."""


class TransientError(AutograderError):
    """Worth retrying: a dependency was briefly unavailable."""


class RetryCannotHelp(AutograderError):
    """Failed for a reason a retry cannot change: given up at once, not retried."""


class PoisonMessage(RetryCannotHelp, ValueError):
    """Can never succeed: malformed or of an unknown type. Dead-lettered at once."""


class PlatformFailure(AutograderError):
    """The platform, not the student's program, failed (a sandbox lost, a call never
    answered): it fails the step, never becomes a test's verdict or score."""
