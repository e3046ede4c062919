"""Store URLs (runs, checkpoints, memory, the queue): which name PostgreSQL, each driver's spelling,
and how a URL is checked and shown without its password.

Three spellings name PostgreSQL: ``postgresql://``, libpq's short ``postgres://`` and SQLAlchemy's
``postgresql+psycopg://``. SQLAlchemy needs the last (it picks the driver from it); psycopg and
LangGraph's Postgres savers accept only the first two. Every other store is ``sqlite://``.
"""

from __future__ import annotations

from typing import TypeGuard
from urllib.parse import quote, unquote, urlsplit

from tools.logs import register_secret

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
STORE_SCHEMES = (*POSTGRES_SCHEMES, "sqlite")


def _split(url: str) -> tuple[str, str]:
    """(scheme, the rest after ``://``); the scheme is "" when there is no ``://``."""
    scheme, sep, rest = url.partition("://")
    return (scheme, rest) if sep else ("", url)


def is_postgres(url: str | None) -> TypeGuard[str]:
    return url is not None and _split(url)[0] in POSTGRES_SCHEMES


def is_sqlite(url: str) -> bool:
    return _split(url)[0] == "sqlite"


def psycopg_url(url: str) -> str:
    """A PostgreSQL URL as psycopg (and LangGraph's Postgres savers) take it; others unchanged."""
    return f"postgresql://{_split(url)[1]}" if is_postgres(url) else url


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL with SQLAlchemy's psycopg driver named; others unchanged."""
    return f"postgresql+psycopg://{_split(url)[1]}" if is_postgres(url) else url


def safe_url(url: str) -> str:
    """The URL with its password replaced, for messages. Split by hand at the *last* @: a password
    with an unencoded @ confuses URL parsers, which then show its tail as the host."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{location}"


def register_url_password(url: str) -> None:
    """The URL's password is a secret wherever it turns up (a driver error quoting the DSN), as
    written and decoded."""
    password = _split(url)[1].rpartition("@")[0].partition(":")[2]
    register_secret(password)
    register_secret(unquote(password))


def normalise_store_url(url: str) -> str:
    """``url`` with its user and password percent-encoded, the password registered as a secret;
    ValueError for a scheme ae cannot open or a port that is not a number.

    People paste passwords with ``@`` or ``/`` unencoded; a URL parser then splits at the wrong
    ``@`` and the password's tail lands in an error as a host name. The last ``@`` before the host
    is the real separator (hosts and database names hold no ``@``), so split there.
    """
    scheme, rest = _split(url)
    if scheme not in STORE_SCHEMES:
        raise ValueError(f"a store URL starts with one of {', '.join(s + '://' for s in STORE_SCHEMES)}")
    if scheme == "sqlite" or "@" not in rest:
        return url
    userinfo, _, hostpart = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    encoded = quote(unquote(password), safe="")
    normal = f"{scheme}://{quote(unquote(user), safe='')}{':' + encoded if colon else ''}@{hostpart}"
    register_url_password(normal)
    try:
        urlsplit(normal).port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise ValueError("the port after the host is not a number") from None
    return normal
