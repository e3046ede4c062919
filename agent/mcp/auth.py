"""Who may talk to ae's HTTP server: a bearer token always (the user's, or on loopback one ae keeps for
them: agent/mcp/token_store.py); a bind beyond loopback needs one the user gives."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tools.errors import InvalidArguments

TOKEN_ENV = "AE_MCP_TOKEN"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``, which binds 127.0.0.1) as a host and a port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArguments(f"--http {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere: treat it as exposed


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token the user chose and gave to its clients:
    anyone who reaches the port could run dbt."""
    if not is_loopback(host) and not token:
        raise InvalidArguments(
            f"refusing to serve MCP on {host} without a bearer token: other machines could run dbt here",
            hint=f"set {TOKEN_ENV} or pass --token, or bind 127.0.0.1 (the default; ae then makes a token)",
        )


def bearer_guard(app: App, token: str) -> App:
    """An ASGI wrapper that answers 401 to any HTTP request without ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await app(scope, receive, send)

    return guarded
