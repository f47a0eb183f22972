"""API tokens and what each role may do.

A token is `agt_<prefix>_<secret>`: the prefix (8 characters) is public and finds the
row; the whole token is stored only as its SHA-256 (a 256-bit random secret needs no
slow hash: nobody can guess it, and the hash cannot be reversed). The token itself is
shown once, at creation, and never logged or stored.
"""

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

TOKEN_PREFIX = "agt"
_ALPHABET = string.ascii_letters + string.digits


class Role(StrEnum):
    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    INTEGRATION = "integration"
    RUNNER = "runner"


class Scope(StrEnum):
    CONFIGS_READ = "configs:read"
    CONFIGS_WRITE = "configs:write"
    SUBMISSIONS_CREATE = "submissions:create"
    SUBMISSIONS_READ = "submissions:read"
    SUBMISSIONS_EXPORT = "submissions:export"
    REGRADE = "submissions:regrade"
    CANCEL = "submissions:cancel"
    EXTERNAL_RESULTS = "external_results:write"
    EXECUTE = "execute"
    TEMPLATES_READ = "templates:read"
    SANDBOX_METRICS = "sandbox:metrics"
    TOKENS = "tokens:manage"
    RUNNERS = "runners:manage"
    RUNNER_API = "runner:api"


SCOPES: dict[Role, frozenset[Scope]] = {
    Role.ADMIN: frozenset(Scope) - {Scope.RUNNER_API},
    Role.INSTRUCTOR: frozenset(
        {
            Scope.CONFIGS_READ,
            Scope.CONFIGS_WRITE,
            Scope.SUBMISSIONS_CREATE,
            Scope.SUBMISSIONS_READ,
            Scope.SUBMISSIONS_EXPORT,
            Scope.REGRADE,
            Scope.CANCEL,
            Scope.EXECUTE,
            Scope.TEMPLATES_READ,
        }
    ),
    Role.INTEGRATION: frozenset(
        {
            Scope.CONFIGS_READ,
            Scope.SUBMISSIONS_CREATE,
            Scope.SUBMISSIONS_READ,
            Scope.EXTERNAL_RESULTS,
            Scope.EXECUTE,
            Scope.TEMPLATES_READ,
        }
    ),
    Role.RUNNER: frozenset({Scope.RUNNER_API}),
}


@dataclass(frozen=True)
class NewToken:
    """A token as shown once: the value, and what is stored of it."""

    value: str
    prefix: str
    digest: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, role and grants (None: every assignment)."""

    token_id: int
    name: str
    role: Role
    assignments: frozenset[str] | None = None

    def may(self, scope: Scope) -> bool:
        return scope in SCOPES[self.role]

    def sees_assignment(self, external_assignment_id: str) -> bool:
        """Instructors see the assignments they are granted; the other roles are
        limited by scope (integrations also by ownership, checked where it applies)."""
        return self.assignments is None or external_assignment_id in self.assignments

    @property
    def sees_only_its_own(self) -> bool:
        return self.role is Role.INTEGRATION


def new_token() -> NewToken:
    prefix = _random(8)
    value = f"{TOKEN_PREFIX}_{prefix}_{_random(43)}"  # 43 of 62 symbols: 256 bits
    return NewToken(value=value, prefix=prefix, digest=digest_of(value))


def digest_of(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def prefix_of(value: str) -> str | None:
    """The public prefix of something shaped like a token, else None."""
    parts = value.split("_")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1]


def matches(value: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(value), digest)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `45m`: how long a token lives (for the CLI's --expires)."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) == 0:
        raise ValueError(f"--expires {text!r}: give a number and d, h or m, e.g. 30d")
    return timedelta(**{units[unit]: int(number)})
