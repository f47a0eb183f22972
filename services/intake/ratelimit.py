"""Requests per token: a token bucket each, in this intake process.

A token may send `per_minute` requests in a burst, then one every 60/per_minute
seconds; past that it gets 429 with `Retry-After`. Buckets are per process: with N
intake replicas a token can reach N times the rate (docs/security.md).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


class RateLimited(Exception):
    def __init__(
        self, retry_after_s: int, reason: str = "too many requests for this token"
    ) -> None:
        super().__init__(f"{reason}; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_minute: int
    clock: Clock = time.monotonic
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def take(self, token_id: int) -> None:
        """Spend one request of `token_id`, or raise RateLimited saying when to retry."""
        now = self.clock()
        bucket = self._buckets.setdefault(token_id, _Bucket(self.per_minute, now))
        rate = self.per_minute / 60
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimited(max(1, math.ceil((1 - bucket.tokens) / rate)))
        bucket.tokens -= 1
