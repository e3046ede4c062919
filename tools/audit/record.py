"""The journal of a publication: what a run published, what it replaced, and where that is kept.

Written before the publish transaction (``state="publishing"``) and again after it
(``"published"``), so a run killed in between can tell which of the two the warehouse holds
(``Publication.settled``). Read back at resume and at ``ae undo`` as untrusted input: relation names
are checked against the warehouse's own catalog before any SQL is built from them, and a kept view
definition must parse as one query.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.journal import ProjectStamp
from tools.warehouse_port import Fingerprint, Warehouse

#: the publication journal in a run's folder
PUBLICATION_JOURNAL = "publication.json"
#: the folder in a run's folder holding its audit copy until it is published or discarded
AUDIT_FOLDER = "audit"

PublicationState = Literal["publishing", "published", "undone"]


class PublishedRelation(BaseModel):
    """One relation a run published into the warehouse."""

    #: ``database.schema.name`` in lower case, as the catalog lists it
    name: str
    #: the catalog's own spelling of the three parts (quoted when SQL is built from them)
    database: str
    schema_name: str
    relation: str
    kind: Literal["table", "view"]
    #: the relation it replaced: "table" kept in the history file as ``kept_as``, or "view" kept as
    #: its query ``kept_view``; None when the run created it
    previous: Literal["table", "view"] | None = None
    kept_as: str | None = None
    kept_view: str | None = None
    #: what the run published, so an undo can tell whether anything changed the relation since
    published: Fingerprint | None = None
    #: where the audit built it (a server's audit schema); None for a DuckDB audit copy, which holds
    #: it under the live name
    audit_schema: str | None = None
    audit_relation: str | None = None


class Publication(ProjectStamp):
    state: PublicationState
    adapter: str = "duckdb"
    #: the file (DuckDB) holding the previous versions, relative to the project
    history: str = ""
    relations: list[PublishedRelation] = Field(default_factory=list)

    @property
    def replaced(self) -> list[PublishedRelation]:
        return [r for r in self.relations if r.previous is not None]

    @property
    def created(self) -> list[PublishedRelation]:
        return [r for r in self.relations if r.previous is None]


def changed_since(warehouse: Warehouse, publication: Publication) -> list[str]:
    """Tables the run published whose rows differ now, or that are gone (another run or a person)."""
    present = {r.qualified_name.lower() for r in warehouse.list_relations()}
    return [
        r.name
        for r in publication.relations
        if r.kind == "table" and (r.name not in present or warehouse.fingerprint(r.name) != r.published)
    ]
