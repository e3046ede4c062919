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
``generate_schema_name`` can send models anywhere; that is code, approved before it runs (Approve).

A target is one question; a node is another. A model with ``schema='prod'``, a snapshot with
``target_schema='prod'`` or a ``database=`` config lands wherever dbt resolves it, whatever the target.
``ProtectedPlaces`` holds every protected location of the profile, and places a node's resolved
database and schema (from dbt's manifest) among them. A node's schema is exact, so it lies in a
protected schema when it is that schema or one of its custom schemas (``prod``, ``prod_x``), not the
other way round. For DuckDB the database is a catalog: the target's own catalog is its file; any other
catalog is a file attached under another name, which could be any file, so it matches every server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tools.profiles import ProfileTarget

#: dbt-duckdb's schema when a target sets none
DUCKDB_DEFAULT_SCHEMA = "main"


def _same(a: str, b: str) -> bool:
    """Equal identifiers; an unknown one ("") could be anything, so it matches (the safe side)."""
    return not a or not b or a.casefold() == b.casefold()


def within(schema: str, protected: str) -> bool:
    """Whether a relation in ``schema`` lies in ``protected`` or one of its custom schemas."""
    return _same(schema, protected) or schema.casefold().startswith(protected.casefold() + "_")


def duckdb_catalog(path: Path | None) -> str:
    """The catalog DuckDB names a file's database after: its name up to the first dot, leading dots
    dropped (dbt-duckdb's ``path_derived_database_name``). ``memory`` when there is no local file
    (in-memory, MotherDuck): no node's catalog then counts as the target's own, the protective side."""
    if path is None:
        return "memory"
    return path.name.lstrip(".").split(".")[0]


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
            # no schema set is dbt-duckdb's default; a schema the profile sets but ae cannot render
            # ("") stays unknown, which matches every schema (the safe side)
            schema = DUCKDB_DEFAULT_SCHEMA if target.schema_name is None else target.schema_name
            return cls("duckdb", server, "", schema)
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


def lands_in(here: Location, there: Location) -> bool:
    """Whether a relation at ``here`` (a node's exact location) is written into ``there``."""
    return (
        here.adapter == there.adapter
        and _same(here.server, there.server)
        and _same(here.database, there.database)
        and within(here.schema, there.schema)
    )


@dataclass(frozen=True)
class ProtectedPlaces:
    """The protected locations of a profile, and where a node of a run on ``target`` lands."""

    #: where the run's target writes
    target: Location
    #: DuckDB: the catalog of the target's file (any other catalog is another, attached file)
    catalog: str = ""
    #: (protected target's name, its location)
    targets: tuple[tuple[str, Location], ...] = ()
    #: protected on any server
    schemas: tuple[str, ...] = ()

    def place(self, database: str, schema: str) -> Location:
        """The location of a relation dbt resolved to ``database``.``schema`` on this run's target."""
        if self.target.adapter == "duckdb":
            own = database.casefold() == self.catalog.casefold()
            return Location("duckdb", self.target.server if own else "", "", schema)
        return Location(self.target.adapter, self.target.server, database, schema)

    def protecting(self, database: str, schema: str) -> str | None:
        """Why a relation at ``database``.``schema`` is on a protected location; None when it is not."""
        here = self.place(database, schema)
        for name, there in self.targets:
            if lands_in(here, there):
                return f"target {name}'s location ({there.describe()})"
        for protected in self.schemas:
            if within(here.schema, protected):
                return f"the protected schema {protected!r}"
        return None

    def merged(self, other: ProtectedPlaces) -> ProtectedPlaces:
        """These places and ``other``'s (the profile before a change and after it: a plan that moves
        prod in profiles.yml does not take prod's old location out of protection)."""
        targets = tuple(dict.fromkeys([*self.targets, *other.targets]))
        schemas = tuple(dict.fromkeys([*self.schemas, *other.schemas]))
        return ProtectedPlaces(self.target, self.catalog, targets, schemas)


@dataclass(frozen=True)
class Protection:
    """Whether a target is protected, and why, in words for the person who has to approve."""

    target: str
    location: Location
    protected: bool
    reason: str
    #: every protected location of the profile, for placing the nodes a run builds
    places: ProtectedPlaces | None = field(default=None, compare=False)

    def widened(self, earlier: Protection | None) -> Protection:
        """This protection with ``earlier``'s protected places as well (the profile before a change)."""
        if earlier is None or earlier.places is None or self.places is None:
            return self
        return replace(self, places=self.places.merged(earlier.places))


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
    names, schemas = set(protected_targets), tuple(protected_schemas)
    places = ProtectedPlaces(
        here,
        duckdb_catalog(target.path) if target.type == "duckdb" else "",
        tuple((name, Location.of(profile_targets[name])) for name in sorted(names & set(profile_targets))),
        schemas,
    )

    def verdict(reason: str) -> Protection:
        return Protection(target.target, here, True, reason, places)

    if target.target in names:
        return verdict(f"target {target.target!r} is a protected target; it writes to {here.describe()}")
    for name in sorted(names & set(profile_targets)):
        there = Location.of(profile_targets[name])
        if here.overlaps(there):
            return verdict(f"target {target.target!r} writes to {name}'s location {there.describe()}")
    for schema in schemas:
        if schemas_overlap(here.schema, schema):
            return verdict(
                f"target {target.target!r} writes to {here.describe()}, and schema {schema!r} is protected"
            )
    reason = f"target {target.target!r} writes to {here.describe()}"
    return Protection(target.target, here, False, reason, places)
