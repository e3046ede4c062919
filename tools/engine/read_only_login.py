"""The login ae's read-only calls use on PostgreSQL, when the profile gives one: the wall that holds.

``default_transaction_read_only`` (tools/engine/child.py ``read_only_postgres``) is a session
default SQL may turn off. A role that may only read cannot be talked out of it. So when the profile
defines, beside the target dbt uses (say ``dev``), an output named ``dev_read_only`` holding the
login of such a role, every connection of a read-only call (Validate's parse and compile, the
port's read-only SQL) logs in as that role instead; everything else of the target stays (schema,
database, the compiled SQL, dbt's partial parse, which hashes the ``--target`` argument).

Set it up (once, as a role that may grant; ``analytics`` is the target's schema)::

    create role ae_reader login password '...';
    grant connect on database warehouse to ae_reader;
    grant usage on schema analytics, raw to ae_reader;
    grant select on all tables in schema analytics, raw to ae_reader;
    alter default privileges for role transformer in schema analytics grant select on tables to ae_reader;

and in profiles.yml, beside ``dev``::

    dev_read_only:
      type: postgres
      host: <dev's host>
      port: <dev's port>
      dbname: <dev's dbname>
      schema: <any>
      user: ae_reader
      password: "{{ env_var('AE_READER_PASSWORD') }}"  # read by dbt only; never written anywhere

Refused (a configuration error, not a silent fallback): an output that is not PostgreSQL, one on
another host, port or database than the target (the wall would guard another warehouse), and a
target that sets ``role:`` (dbt-postgres runs ``SET ROLE`` after connecting, which would hand the
reader that role's rights whenever it is a member).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tools.engine.adapter_sql import dbt_profile

#: the read-only login of target ``dev`` is the output ``dev_read_only``
SUFFIX = "_read_only"


class ReadOnlyLoginRefused(Exception):
    """The profile's read-only login cannot be used; the message says why and where."""


@dataclass(frozen=True)
class Login:
    user: str
    password: str


class LoginCache:
    """The read-only login of the last arguments and profile seen (rendering a profile takes a few
    tens of milliseconds; a read-only call should not pay it each time)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._login: Login | None = None

    def get(self, options: dict[str, str | None]) -> Login | None:
        """The login for the engine's dbt options (``adapter_sql.dbt_options``); None when the
        profile defines none or the target is not PostgreSQL; ReadOnlyLoginRefused when it is wrong."""
        project = Path(options["project_dir"] or ".")
        profiles = Path(options["profiles_dir"] or project) / "profiles.yml"
        try:
            key = hashlib.sha256(repr(sorted(options.items())).encode() + profiles.read_bytes()).hexdigest()
        except OSError:
            return None  # dbt reports a missing profile itself
        if key != self._key:
            self._login, self._key = _login(options), key
        return self._login


def _login(options: dict[str, str | None]) -> Login | None:
    from tools.errors import ConfigurationError
    from tools.profiles import read_profile

    project_dir = options["project_dir"] or "."
    profiles_dir = Path(options["profiles_dir"]) if options["profiles_dir"] else None
    try:
        known = read_profile(Path(project_dir), options["target"], profiles_dir, profile=options["profile"])
    except ConfigurationError:
        return None  # a profile dbt cannot read either: the call itself reports it
    name = known.chosen + SUFFIX
    if known.target.type != "postgres" or name not in known.targets:
        return None
    target = dbt_profile(options).credentials
    reader = dbt_profile(options, name).credentials
    where = f"output {name!r} of profile {known.name!r} ({known.target.profiles_file})"
    if reader.type != "postgres":
        raise ReadOnlyLoginRefused(f"{where} is {reader.type}, not postgres like {known.chosen!r}")
    if (reader.host, reader.port, reader.database) != (target.host, target.port, target.database):
        raise ReadOnlyLoginRefused(
            f"{where} names {reader.host}:{reader.port}/{reader.database}, but target {known.chosen!r} is "
            f"{target.host}:{target.port}/{target.database}; a read-only login must be for the same database"
        )
    if target.role:
        raise ReadOnlyLoginRefused(
            f"target {known.chosen!r} sets role: {target.role}; dbt would SET ROLE after the read-only "
            f"login of {where} connects, giving it that role's rights. Remove role: or the {name!r} output"
        )
    return Login(user=reader.user, password=reader.password)
