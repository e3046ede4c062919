"""A project's memories in LangGraph's BaseStore, under namespaces ``(project, kind)``.

The store is SQLite (``.ae/memory.sqlite``) unless the URL is PostgreSQL, where a team's workers
share it. Ranking is done here rather than by the store's vector index: the PostgreSQL index needs
the pgvector extension on the server, and a project holds hundreds of memories, not millions, so
scoring the newest candidates of the namespace in Python (at most ``SEARCH_SCAN``) costs
milliseconds and works the same on both.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from langgraph.store.base import BaseStore, Item, SearchItem

from tools.errors import ConfigurationError
from tools.logs import redact
from tools.memory.embedding import HASHED, Embedder, checked_vectors, cosine, load_embedder
from tools.store_urls import is_postgres, psycopg_url

MemoryKind = Literal["conventions", "models", "failures", "decisions"]
KINDS: tuple[MemoryKind, ...] = get_args(MemoryKind)
#: how many memories of a kind ``ae memory list`` and ``export`` show (far above what a project
#: accumulates)
LIST_LIMIT = 10_000
#: how many of a kind's newest memories a similarity search scores. Bounded so that a store someone
#: filled (20,000 imported memories) costs a search what a few hundred do: reading the newest rows is
#: an index-free sort in the store, scoring each is a vector read and a cosine in Python.
SEARCH_SCAN = 2_000
#: ae's own index on LangGraph's SQLite store table (the newest memories of a namespace, cheaply)
_UPDATED_INDEX = "ae_store_updated_at_idx"


def _store_fault(where: str, exc: Exception, *, sqlite_file: Path | None) -> ConfigurationError:
    """A memory store that cannot be used (damaged, read-only, unreachable), named, with what to do."""
    detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if sqlite_file is None:
        return ConfigurationError(
            f"cannot use {where}: {detail}",
            hint="start PostgreSQL or fix AE_MEMORY_URL / AE_STORE_URL, or set AE_MEMORY=false to run "
            "without memory",
        )
    if "not a database" in detail or "malformed" in detail:
        return ConfigurationError(
            f"{where} is damaged ({detail})",
            hint=f"move it aside (`mv {sqlite_file} {sqlite_file}.broken`) and run again: memory starts "
            "afresh; the project's files are not affected",
        )
    return ConfigurationError(
        f"cannot use {where}: {detail}",
        hint=f"make {sqlite_file.parent} writable and free some space, or set AE_MEMORY=false to run "
        "without memory",
    )


@contextmanager
def _sqlite_store(state_dir: Path) -> Iterator[tuple[BaseStore, str, Path]]:
    from langgraph.store.sqlite import SqliteStore

    file = state_dir / "memory.sqlite"
    where = f"the memory store {file}"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _store_fault(where, exc, sqlite_file=file) from None
    try:
        store = SqliteStore(conn)
        try:
            store.setup()
            # the store lists a namespace newest first: without an index on the time, SQLite sorts
            # every row of it, vectors and all (0.45 s for 20,000 memories; 0.02 s with it)
            conn.execute(f"CREATE INDEX IF NOT EXISTS {_UPDATED_INDEX} ON store (updated_at)")
        except sqlite3.Error as exc:
            raise _store_fault(where, exc, sqlite_file=file) from None
        yield store, where, file
        with contextlib.suppress(sqlite3.Error):  # statistics, so that the planner picks that index
            conn.execute("PRAGMA optimize")
    finally:
        conn.close()


@contextmanager
def open_memory(
    url: str | None, state_dir: Path, project: str, embedding: str = HASHED
) -> Iterator[ProjectMemory]:
    """``project``'s memory in LangGraph's PostgresStore for a ``postgresql://`` URL, else in its
    SqliteStore under ``state_dir``. A store that cannot be opened or used is a ConfigurationError
    naming it, never a driver's traceback."""
    if is_postgres(url):
        import psycopg
        from langgraph.store.postgres import PostgresStore

        dsn = psycopg_url(str(url))
        where = f"the memory store at {redact(dsn)}"
        with ExitStack() as stack:
            try:  # only the opening: an error of the caller's own (its checkpointer) is not ours
                pg_store = stack.enter_context(PostgresStore.from_conn_string(dsn))
                pg_store.setup()
            except psycopg.Error as exc:
                raise _store_fault(where, exc, sqlite_file=None) from None
            yield ProjectMemory(pg_store, project, embedding, where=where, faults=(psycopg.Error,))
        return
    with _sqlite_store(state_dir) as (store, where, file):
        yield ProjectMemory(store, project, embedding, where=where, faults=(sqlite3.Error,), file=file)


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
    """The memories of one project in a BaseStore: write, list, search by similarity, forget.

    ``where`` names the store in messages; a ``faults`` error from it (a damaged file, a read-only
    folder, a lost connection) becomes a ConfigurationError naming it."""

    def __init__(
        self,
        store: BaseStore,
        project: str,
        embedding: str = HASHED,
        *,
        where: str = "the memory store",
        faults: tuple[type[Exception], ...] = (sqlite3.Error,),
        file: Path | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self.provider = embedding
        self.where = where
        self._faults = faults
        self._file = file
        self._embed: Embedder = load_embedder(embedding)

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
        except self._faults as exc:
            raise _store_fault(self.where, exc, sqlite_file=self._file) from None

    def namespace(self, kind: MemoryKind) -> tuple[str, str]:
        return (self.project, kind)

    def _vector(self, text: str) -> list[float]:
        vectors = self._embed([text])
        if self.provider != HASHED:
            vectors = checked_vectors(self.provider, [text], vectors)
        return vectors[0]

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
        with self._guarded():
            self.store.put(self.namespace(kind), key, value, index=False)
        return Memory(kind, key, text, fields, datetime.now(UTC))

    def _memory(self, kind: MemoryKind, item: Item, score: float | None = None) -> Memory:
        value = item.value
        data = value.get("data")
        return Memory(
            kind,
            item.key,
            str(value.get("text", "")),
            data if isinstance(data, Mapping) else {},
            item.updated_at,
            score,
        )

    def get(self, kind: MemoryKind, key: str) -> Memory | None:
        with self._guarded():
            item = self.store.get(self.namespace(kind), key)
        return self._memory(kind, item) if item else None

    def _newest(self, kind: MemoryKind, where: Mapping[str, Any] | None, limit: int) -> list[SearchItem]:
        with self._guarded():
            return self.store.search(
                self.namespace(kind),
                filter={f"data.{k}": v for k, v in (where or {}).items()} or None,
                limit=limit,
            )

    def items(
        self, kind: MemoryKind, where: Mapping[str, Any] | None = None, *, limit: int = LIST_LIMIT
    ) -> list[Memory]:
        """The newest ``limit`` memories of ``kind`` (``where``: equal values of ``data`` fields)."""
        return [self._memory(kind, item) for item in self._newest(kind, where, limit)]

    def search(
        self,
        query: str,
        kinds: tuple[MemoryKind, ...] = KINDS,
        *,
        limit: int = 5,
        min_score: float = 0.0,
        where: Mapping[str, Any] | None = None,
        scan: int = SEARCH_SCAN,
    ) -> list[Memory]:
        """Of the newest ``scan`` memories of each of ``kinds``, the ``limit`` most similar to
        ``query``, best first."""
        target = self._vector(query)
        scored = []
        for kind in kinds:
            for item in self._newest(kind, where, scan):
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
        with self._guarded():
            for k in keys:
                if self.store.get(self.namespace(kind), k) is not None:
                    self.store.delete(self.namespace(kind), k)
                    gone += 1
        return gone

    def export(self) -> list[dict[str, Any]]:
        return [m.as_dict() for kind in KINDS for m in self.items(kind)]

    def load(self, records: list[Mapping[str, Any]]) -> int:
        """Write exported records back (the vector is recomputed with this store's provider).

        The records are checked by the caller (agent/memory/cli.py): a kind, key and text each, and
        ``data`` a mapping when present."""
        for record in records:
            self.remember(
                checked_kind(str(record["kind"])), str(record["key"]), str(record["text"]), record.get("data")
            )
        return len(records)
