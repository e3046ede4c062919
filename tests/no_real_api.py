"""Pytest plugin: tests never reach a real model API (or anything else off this machine).

Wired from tests/conftest.py with ``pytest_plugins = ["tests.no_real_api"]``. For every test it

- removes the ``ANTHROPIC_*`` environment (key, base URL, profile) so nothing picks up a developer's
  real credentials, and points the SDK's config directory at a path that cannot exist;
- patches ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` so a connection to a
  non-loopback address, or a DNS lookup of a remote name, raises ``RealNetworkBlocked`` before any
  packet leaves. Loopback (127.0.0.0/8, ::1, localhost) and Unix sockets stay allowed, so the fake
  Anthropic server and a local PostgreSQL keep working. (Connections made in C, such as libpq's,
  bypass Python sockets and are not covered.)
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest

_ANTHROPIC_ENV_PREFIX = "ANTHROPIC_"
# /dev/null is a file, so nothing can exist below it: the SDK finds no on-disk profile there.
_NO_CONFIG_DIR = os.path.join(os.devnull, "ae-tests-no-anthropic-config")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", socket.gethostname()})


class RealNetworkBlocked(BaseException):
    """A test tried to reach a non-loopback address.

    A ``BaseException``, like pytest's own outcome exceptions: HTTP clients (the anthropic SDK
    included) turn any ``Exception`` raised while connecting into a retryable connection error,
    which would hide the refusal behind retries. This one passes through them and fails the test.
    """


def is_local_host(host: str) -> bool:
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> RealNetworkBlocked:
    return RealNetworkBlocked(
        f"tests may not reach the network: refused {what}. Use the fake Anthropic server "
        "(tests.fake_anthropic.FakeAnthropic) or a scripted model (agent.llm.ScriptedClient)."
    )


def _check_address(address: Any) -> None:
    # AF_INET / AF_INET6 addresses are tuples whose first item is the host; AF_UNIX is a path.
    if isinstance(address, tuple) and address and not is_local_host(str(address[0])):
        raise _refuse(f"a connection to {address[0]}:{address[1] if len(address) > 1 else '?'}")


def install_network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply the guard for the lifetime of ``monkeypatch`` (one test)."""
    for name in list(os.environ):
        if name.startswith(_ANTHROPIC_ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", _NO_CONFIG_DIR)

    real_connect: Callable[[socket.socket, Any], None] = socket.socket.connect
    real_connect_ex: Callable[[socket.socket, Any], int] = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        _check_address(address)
        real_connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        _check_address(address)
        return real_connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_local_host(host.decode() if isinstance(host, bytes) else str(host)):
            try:
                ipaddress.ip_address(str(host))
            except ValueError:
                raise _refuse(f"a DNS lookup of {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def block_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    install_network_guard(monkeypatch)
