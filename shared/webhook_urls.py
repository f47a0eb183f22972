"""Where results may be delivered: not into the platform's own network.

A config's `export_webhook_url` is chosen by whoever may create configs; without
these checks it could make the export service call internal addresses (server-side
request forgery). Outside development a webhook must be `https` and must not name or
resolve to a private, loopback, link-local or otherwise non-public address; the
export service checks the resolved addresses again before each delivery (a name can
be pointed elsewhere after the config was accepted).
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class Unresolved(OSError):
    """The host did not resolve now: a config names it wrong, or DNS is down a moment."""


LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def url_problem(url: str, *, development: bool) -> str | None:
    """What is wrong with `url` as a webhook, from its text alone; None when fine."""
    parts = urlsplit(url)
    allowed = ("https", "http") if development else ("https",)
    if parts.scheme not in allowed:
        return f"must be an {' or '.join(allowed)} URL" if development else "must be https"
    host = parts.hostname
    if not host:
        return "has no host"
    if development:
        return None
    if host.lower() in LOCAL_NAMES or host.lower().endswith(".localhost"):
        return f"names a local host ({host})"
    address = _address(host)
    if address is not None and not address.is_global:
        return f"is a non-public address ({address})"
    return None


async def resolved_problem(url: str, *, development: bool, timeout_s: float = 3) -> str | None:
    """`url_problem`, then every address its host resolves to must be public too."""
    problem = url_problem(url, development=development)
    if problem is not None or development:
        return problem
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            timeout_s,
        )
    except (OSError, TimeoutError) as error:
        raise Unresolved(f"host {host!r} does not resolve") from error
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            return f"host {host!r} resolves to a non-public address ({address})"
    return None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
