"""Where a webhook may point: public https addresses only, outside development."""

import socket

import pytest

from shared.webhook_urls import Unresolved, resolved_problem, url_problem


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://lms.example.edu/grades", "must be https"),
        ("ftp://lms.example.edu/grades", "must be https"),
        ("https:///grades", "has no host"),
        ("https://localhost/grades", "local host"),
        ("https://api.localhost/grades", "local host"),
        ("https://127.0.0.1/grades", "non-public address (127.0.0.1)"),
        ("https://10.0.0.5/grades", "non-public address"),
        ("https://192.168.1.10:8443/grades", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://[::1]/grades", "non-public address (::1)"),
        ("https://[fe80::1]/grades", "non-public address"),
        ("https://0.0.0.0/grades", "non-public address"),
    ],
)
def test_outside_development_a_webhook_must_be_public_https(url: str, says: str) -> None:
    problem = url_problem(url, development=False)
    assert problem is not None
    assert says in problem


def test_a_public_https_webhook_is_accepted() -> None:
    assert url_problem("https://lms.example.edu/grades", development=False) is None
    assert url_problem("https://93.184.216.34/grades", development=False) is None


def test_development_accepts_a_local_http_receiver_but_not_another_scheme() -> None:
    assert url_problem("http://127.0.0.1:9000/grades", development=True) is None
    assert url_problem("ftp://127.0.0.1/grades", development=True) == "must be an https or http URL"


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    """This machine's own name resolves to a local address (/etc/hosts)."""
    host = socket.gethostname()
    problem = await resolved_problem(f"https://{host}/grades", development=False)
    assert problem is not None
    assert "non-public address" in problem


async def test_a_name_that_does_not_resolve_is_said_so() -> None:
    """At config time a 422; at delivery a failure worth retrying (DNS may be back)."""
    with pytest.raises(Unresolved, match=r"'no-such-host\.invalid' does not resolve"):
        await resolved_problem("https://no-such-host.invalid/grades", development=False)
