"""Tokens and scopes, without a database."""

from datetime import timedelta

import pytest

from shared.auth import (
    SCOPES,
    Principal,
    Role,
    Scope,
    digest_of,
    matches,
    new_token,
    parse_duration,
    prefix_of,
)


def test_a_new_token_is_random_and_only_its_hash_and_prefix_are_kept() -> None:
    first, second = new_token(), new_token()
    assert first.value != second.value
    assert first.value.startswith(f"agt_{first.prefix}_")
    assert len(first.value.split("_")[2]) == 43  # 43 symbols of 62: over 256 bits
    assert first.digest == digest_of(first.value)
    assert first.value not in first.digest
    assert len(first.digest) == 64


def test_a_token_matches_only_its_own_hash() -> None:
    token = new_token()
    assert matches(token.value, token.digest)
    assert not matches(token.value + "x", token.digest)
    assert not matches(new_token().value, token.digest)


@pytest.mark.parametrize(
    "value", ["", "Bearer x", "agt_short_x", "agt_12345678_", "xyz_12345678_secret", "agt_a_b_c"]
)
def test_what_is_not_shaped_like_a_token_has_no_prefix(value: str) -> None:
    assert prefix_of(value) is None


def test_the_prefix_is_read_from_a_token() -> None:
    token = new_token()
    assert prefix_of(token.value) == token.prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("45m", timedelta(minutes=45))],
)
def test_a_lifetime_is_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "0d", "-1d", "1w", "1.5d"])
def test_a_bad_lifetime_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 30d"):
        parse_duration(text)


def test_each_role_has_the_scopes_of_what_it_is_for() -> None:
    assert SCOPES[Role.ADMIN] == frozenset(Scope) - {Scope.RUNNER_API}
    assert SCOPES[Role.RUNNER] == {Scope.RUNNER_API}
    integration = SCOPES[Role.INTEGRATION]
    assert Scope.SUBMISSIONS_CREATE in integration
    assert Scope.EXTERNAL_RESULTS in integration
    assert Scope.CONFIGS_WRITE not in integration
    assert Scope.TOKENS not in integration
    instructor = SCOPES[Role.INSTRUCTOR]
    assert Scope.CONFIGS_WRITE in instructor
    assert Scope.TOKENS not in instructor


def test_an_instructor_sees_only_the_assignments_it_is_granted() -> None:
    granted = Principal(1, "ta", Role.INSTRUCTOR, frozenset({"hw1"}))
    everything = Principal(2, "prof", Role.INSTRUCTOR)
    assert granted.sees_assignment("hw1")
    assert not granted.sees_assignment("hw2")
    assert everything.sees_assignment("hw2")
    assert Principal(3, "lms", Role.INTEGRATION).sees_only_its_own
    assert not everything.sees_only_its_own
