"""A project's memories in LangGraph's BaseStore, under namespaces ``(project, kind)``.

The store is SQLite (``.ae/memory.sqlite``) unless the URL is PostgreSQL, where a team's workers
share it. Ranking is done here rather than by the store's vector index: the PostgreSQL index needs
the pgvector extension on the server, and a project holds hundreds of memories, not millions, so
scoring every candidate of the namespace in Python costs milliseconds and works the same on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from langgraph.store.base import BaseStore, Item

from tools.errors import ConfigurationError
from tools.memory.embedding import HASHED, Embedder, cosine, load_embedder

MemoryKind = Literal["conventions", "models", "failures", "decisions"]
KINDS: tuple[MemoryKind, ...] = get_args(MemoryKind)
_POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
#: how many items of a namespace a search scores (far above what a project accumulates)
_SCAN_LIMIT = 10_000


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(_POSTGRES_PREFIXES)


@contextmanager
def open_base_store(url: str | None, state_dir: Path) -> Iterator[BaseStore]:
    """LangGraph's PostgresStore for a ``postgresql://`` URL, else its SqliteStore under ``state_dir``."""
    if is_postgres_url(url):
        from langgraph.store.postgres import PostgresStore

        dsn = str(url).replace("postgresql+psycopg://", "postgresql://", 1)
        with PostgresStore.from_conn_string(dsn) as pg_store:
            pg_store.setup()
            yield pg_store
        return
    from langgraph.store.sqlite import SqliteStore

    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / "memory.sqlite", check_same_thread=False, isolation_level=None)
    try:
        sqlite_store = SqliteStore(conn)
        sqlite_store.setup()
        yield sqlite_store
    finally:
        conn.close()


@dataclass(frozen=True)
class Memory:
    """One remembered fact: ``text`` is what a person and Claude read and what search ranks."""

    kind: MemoryKind
    key: str
    text: str
    data: Mapping[str, Any]
    updated_at: datetime | None = None
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "text": self.text,
            "data": dict(self.data),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            **({"score": round(self.score, 4)} if self.score is not None else {}),
        }


def checked_kind(kind: str) -> MemoryKind:
    if kind not in KINDS:
        raise ConfigurationError(f"unknown memory kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
    return kind  # type: ignore[return-value]


class ProjectMemory:
    """The memories of one project in a BaseStore: write, list, search by similarity, forget."""

    def __init__(self, store: BaseStore, project: str, embedding: str = HASHED) -> None:
        self.store = store
        self.project = project
        self.provider = embedding
        self._embed: Embedder = load_embedder(embedding)

    def namespace(self, kind: MemoryKind) -> tuple[str, str]:
        return (self.project, kind)

    def _vector(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def remember(
        self, kind: MemoryKind, key: str, text: str, data: Mapping[str, Any] | None = None
    ) -> Memory:
        """Write (or overwrite) one memory; its vector is kept with it, tagged with the provider."""
        fields = dict(data or {})
        value = {
            "text": text,
            "data": fields,
            "embedding": {"provider": self.provider, "vector": self._vector(text)},
        }
        self.store.put(self.namespace(kind), key, value, index=False)
        return Memory(kind, key, text, fields, datetime.now(UTC))

    def _memory(self, kind: MemoryKind, item: Item, score: float | None = None) -> Memory:
        value = item.value
        return Memory(
            kind, item.key, str(value.get("text", "")), value.get("data") or {}, item.updated_at, score
        )

    def get(self, kind: MemoryKind, key: str) -> Memory | None:
        item = self.store.get(self.namespace(kind), key)
        return self._memory(kind, item) if item else None

    def items(self, kind: MemoryKind, where: Mapping[str, Any] | None = None) -> list[Memory]:
        """Every memory of ``kind`` (``where``: equal values of ``data`` fields), newest first."""
        found = self.store.search(
            self.namespace(kind),
            filter={f"data.{k}": v for k, v in (where or {}).items()} or None,
            limit=_SCAN_LIMIT,
        )
        return [self._memory(kind, item) for item in found]

    def search(
        self,
        query: str,
        kinds: tuple[MemoryKind, ...] = KINDS,
        *,
        limit: int = 5,
        min_score: float = 0.0,
        where: Mapping[str, Any] | None = None,
    ) -> list[Memory]:
        """The memories of ``kinds`` most similar to ``query``, best first."""
        target = self._vector(query)
        scored = []
        for kind in kinds:
            for item in self.store.search(
                self.namespace(kind),
                filter={f"data.{k}": v for k, v in (where or {}).items()} or None,
                limit=_SCAN_LIMIT,
            ):
                stored = item.value.get("embedding") or {}
                vector = (
                    stored["vector"]
                    if stored.get("provider") == self.provider
                    else self._vector(str(item.value.get("text", "")))
                )
                score = cosine(target, vector)
                if score >= min_score:
                    scored.append(self._memory(kind, item, score))
        scored.sort(key=lambda m: (-(m.score or 0.0), m.kind, m.key))
        return scored[:limit]

    def forget(self, kind: MemoryKind, key: str | None = None) -> int:
        """Delete one memory, or every memory of ``kind`` when ``key`` is None; how many went."""
        keys = [key] if key is not None else [m.key for m in self.items(kind)]
        gone = 0
        for k in keys:
            if self.store.get(self.namespace(kind), k) is not None:
                self.store.delete(self.namespace(kind), k)
                gone += 1
        return gone

    def export(self) -> list[dict[str, Any]]:
        return [m.as_dict() for kind in KINDS for m in self.items(kind)]

    def load(self, records: list[Mapping[str, Any]]) -> int:
        """Write exported records back (the vector is recomputed with this store's provider)."""
        for record in records:
            self.remember(
                checked_kind(str(record["kind"])), str(record["key"]), str(record["text"]), record.get("data")
            )
        return len(records)
