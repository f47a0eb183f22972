"""A token's requests: a burst, then a steady rate; past it, when to come back."""

import pytest

from services.intake.ratelimit import RateLimited, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_gets_its_burst_then_waits_for_the_next_request() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=3, clock=clock)
    for _ in range(3):
        limiter.take(1)
    with pytest.raises(RateLimited) as refused:
        limiter.take(1)
    assert refused.value.retry_after_s == 20  # one request every 60/3 s
    clock.now = 20.0
    limiter.take(1)  # one came back


def test_tokens_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(per_minute=1, clock=Clock())
    limiter.take(1)
    limiter.take(2)
    with pytest.raises(RateLimited):
        limiter.take(1)
