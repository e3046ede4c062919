"""Which warehouse locations are protected, and whether a target writes into one.

Protection goes by where a target *writes*, not by what it is called: a target named ``live``, or a
``dev`` whose profile was edited to point at prod's schema, writes to prod's location and is
protected like ``prod``. A location is the adapter, the server (DuckDB: the resolved file;
others: host and port), the database and the schema, as dbt resolves them from the profile
(tools/profiles.py).

Custom schemas: dbt's default ``generate_schema_name`` writes a model with ``schema='x'`` to
``<target schema>_x``, so a target whose schema is ``prod`` also writes to ``prod_*``. Two schemas
therefore overlap when they are equal or one is the other followed by ``_`` (``prod`` and
``prod_staging``); a dev target with schema ``prod_sandbox`` counts as prod's. An override of
``generate_schema_name`` can send models anywhere; that is code, approved before it runs (Validate),
not something a location can describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tools.profiles import ProfileTarget

#: dbt-duckdb's schema when a target sets none
DUCKDB_DEFAULT_SCHEMA = "main"


def _same(a: str, b: str) -> bool:
    """Equal identifiers; an unknown one ("") could be anything, so it matches (the safe side)."""
    return not a or not b or a.casefold() == b.casefold()


def schemas_overlap(a: str, b: str) -> bool:
    """Whether a target writing to schema ``a`` may write where one writing to ``b`` does (module doc)."""
    if _same(a, b):
        return True
    x, y = sorted((a.casefold(), b.casefold()), key=len)
    return y.startswith(x + "_")


@dataclass(frozen=True)
class Location:
    """Where a target writes. Empty strings are unknown (an unset env_var, a missing key)."""

    adapter: str
    #: DuckDB: the absolute file (or the ``md:``/``:memory:`` name); others: ``host:port``
    server: str
    database: str
    schema: str

    @classmethod
    def of(cls, target: ProfileTarget) -> Location:
        if target.type == "duckdb":
            # the file is the database (dbt-duckdb names it after the file), so it alone identifies it
            server = str(target.path) if target.path is not None else ""
            return cls("duckdb", server, "", target.schema_name or DUCKDB_DEFAULT_SCHEMA)
        server = f"{target.host or ''}:{target.port}" if target.port else target.host or ""
        return cls(target.type, server, target.database or "", target.schema_name or "")

    def overlaps(self, other: Location) -> bool:
        return (
            self.adapter == other.adapter
            and _same(self.server, other.server)
            and _same(self.database, other.database)
            and schemas_overlap(self.schema, other.schema)
        )

    def describe(self) -> str:
        """``duckdb file /p/w.duckdb schema prod`` / ``postgres db.example:5432 database a schema b``."""
        if self.adapter == "duckdb":
            return f"duckdb file {self.server or '(none)'} schema {self.schema}"
        parts = [self.adapter, self.server or "(unknown server)"]
        if self.database:
            parts.append(f"database {self.database}")
        return " ".join([*parts, f"schema {self.schema or '(unknown)'}"])


@dataclass(frozen=True)
class Protection:
    """Whether a target is protected, and why, in words for the person who has to approve."""

    target: str
    location: Location
    protected: bool
    reason: str


def protection_of(
    target: ProfileTarget,
    profile_targets: Mapping[str, ProfileTarget],
    *,
    protected_targets: Iterable[str],
    protected_schemas: Iterable[str],
) -> Protection:
    """Protection of ``target``, given the other targets of its profile and the user's settings.

    Protected: a target named in ``protected_targets``; one writing to the location of a target so
    named (whatever it is called itself); one writing to a schema in ``protected_schemas`` on any
    server. The first reason found is reported.
    """
    here = Location.of(target)
    names = set(protected_targets)

    def verdict(reason: str) -> Protection:
        return Protection(target.target, here, True, reason)

    if target.target in names:
        return verdict(f"target {target.target!r} is a protected target; it writes to {here.describe()}")
    for name in sorted(names & set(profile_targets)):
        there = Location.of(profile_targets[name])
        if here.overlaps(there):
            return verdict(f"target {target.target!r} writes to {name}'s location {there.describe()}")
    for schema in protected_schemas:
        if schemas_overlap(here.schema, schema):
            return verdict(
                f"target {target.target!r} writes to {here.describe()}, and schema {schema!r} is protected"
            )
    return Protection(target.target, here, False, f"target {target.target!r} writes to {here.describe()}")
