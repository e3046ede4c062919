"""Which remembered failures a request should hear about, and which failures are no lesson at all.

A past failure is told to Plan (and printed under the answer) only when it is about the request:

- the same models: a model the request works on (a command's ``--name``, ``--model``, ``--select``,
  ``--from``, source table or file; a ``stg_``/``int_``/``fct_``/``dim_`` name in words) is one the
  failed run worked on (the same, and the files its diff touched);
- or the same kind of change: what the two requests do, without the names they do it to (a
  command's words and ``--type``: ``incremental model``, ``model dimension``; a request in words
  without its names and small words: ``rename column``), at least ``MIN_REQUEST_SIMILARITY`` alike
  (hashed n-gram cosine, tools/memory/embedding.py).

The threshold was measured on the labelled pairs in tests/test_memory_relevance.py: see there for
the figures. A command that plans no change (compile, lineage, docs, debug, test) recalls nothing.

A failure caused by the environment (a warehouse missing or empty, a lock, a lost connection, a
profile or package that is not there, the guard's "stopped by an infrastructure fault") teaches
nothing about modelling: it is neither learned nor, when an older ae stored it, recalled.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agent.requests import is_command
from tools.memory.embedding import cosine, hashed_ngrams

#: what two requests do is the same kind of change at least this alike (measured: see the module doc)
MIN_REQUEST_SIMILARITY = 0.5
#: commands that plan no change to the project: nothing from memory is worth their answer
PLANS_NO_CHANGE = frozenset({"dbt-compile", "model-lineage", "dbt-docs", "dbt-debug", "dbt-test"})
#: flags whose values name what a command works on
_TARGET_FLAGS = frozenset({"name", "model", "select", "from", "source-table", "table", "source", "file"})
#: words that say nothing about the kind of change
_SMALL_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "on",
        "in",
        "to",
        "of",
        "for",
        "with",
        "and",
        "by",
        "from",
        "as",
        "at",
        "into",
        "it",
        "its",
        "is",
        "be",
        "instead",
        "add",
        "make",
        "please",
    ]
)
_TEXT_WORD = re.compile(r"[a-z0-9_]+")
_LAYERED = re.compile(r"\b(?:stg|int|fct|dim)_[a-z0-9_]+\b", re.IGNORECASE)
_FILE = re.compile(r"\b[\w./-]+\.(?:sql|py|csv|yml|yaml)\b")
#: graph operators of a dbt selector around a name: ``2+fct_x+1``, ``@fct_x``, ``fct_*``
_SELECTOR_EXTRAS = re.compile(r"^@|^\d*\+|\+\d*$|\*")

#: what an environment fault says (dbt, DuckDB, PostgreSQL, ae's own guard), without case
_ENVIRONMENT = tuple(
    (re.compile(said, re.IGNORECASE), why)
    for said, why in (
        (r"stopped by an infrastructure fault", "an infrastructure fault stopped the run"),
        (r"could not set lock on file|conflicting lock is held|database is locked", "a lock was held"),
        (r"catalog error: (?:table|schema|view) with name", "the warehouse lacked a table"),
        (r'(?:relation|schema|database) "[^"]*" does not exist', "the warehouse lacked a table"),
        (r"cannot open (?:file|database)|unable to open database file", "the warehouse could not open"),
        (
            r"connection refused|could not connect|connection reset|server closed the connection",
            "no connection",
        ),
        (r"timed out|past its time limit", "a call timed out"),
        (r"could not find profile|env var required but not provided", "the profile was incomplete"),
        (r"\bdbt deps\b|package.{0,40}not (?:installed|found)", "packages were not installed"),
        (r"no space left on device|read-only file system|disk quota", "the disk refused writes"),
        (r"\berror stale\b|freshness.{0,40}(?:stale|error)", "the sources were stale"),
    )
)


def environment_fault(text: str) -> str | None:
    """Why ``text`` (a run's error or reason) is the environment's fault, or None when it is not."""
    return next((why for said, why in _ENVIRONMENT if said.search(text)), None)


def _words(request: str) -> list[str]:
    try:
        return shlex.split(request)
    except ValueError:  # an unbalanced quote: the words are still worth reading
        return request.split()


def command_of(request: str) -> str:
    """The /command of ``request`` (``dbt-model``), or "" for a request in words."""
    if not is_command(request):
        return ""
    return _words(request.strip())[0][1:].lower()


def plans_no_change(request: str) -> bool:
    """Whether ``request`` is a command that only reads (its answer needs nothing from memory)."""
    return command_of(request) in PLANS_NO_CHANGE


def _options(request: str) -> dict[str, str]:
    words = _words(request)
    options: dict[str, str] = {}
    for at, word in enumerate(words):
        if not word.startswith("--"):
            continue
        flag, equals, value = word[2:].partition("=")
        if not equals and at + 1 < len(words) and not words[at + 1].startswith("--"):
            value = words[at + 1]
        options[flag.lower()] = value
    return options


def _names(value: str) -> set[str]:
    """Model and table names in a flag's value: ``a,b``, ``+fct_x+``, ``raw.orders``, a file path."""
    found = set()
    for given in re.split(r"[,\s]+", value):
        bare = _SELECTOR_EXTRAS.sub("", given)
        name = PurePosixPath(bare).stem if "/" in bare else bare.rsplit(".", 1)[-1]
        if name:
            found.add(name.lower())
    return found


def targets(request: str) -> set[str]:
    """The models (and source tables, seeds) ``request`` works on."""
    if not command_of(request):
        return {name.lower() for name in _LAYERED.findall(request)}
    found: set[str] = set()
    for flag, value in _options(request).items():
        if flag in _TARGET_FLAGS:
            found |= _names(value)
    return found


def kind_of(request: str) -> str:
    """What ``request`` does, without what it does it to: ``incremental model``, ``rename column``."""
    command = command_of(request)
    if command:
        words = [word for word in command.split("-") if word != "dbt"]
        return " ".join([*words, _options(request).get("type", "").lower()]).strip()
    words = _TEXT_WORD.findall(request.lower())
    return " ".join(w for w in words if "_" not in w and w not in _SMALL_WORDS and not w.isdigit())


@dataclass(frozen=True)
class PastFailure:
    """What relevance reads of a remembered failure (its ``data``, as learn.py stores it)."""

    request: str
    #: the models the failed run worked on: its request's and its diff's files
    worked_on: frozenset[str]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PastFailure:
        request, diff = str(data.get("request") or ""), str(data.get("diff") or "")
        files = {PurePosixPath(path).stem.lower() for path in _FILE.findall(diff)}
        return cls(request, frozenset(targets(request) | files))


@functools.lru_cache(maxsize=1024)
def _kind_vector(request: str) -> list[float]:
    # cached: recall scores one request against hundreds of failures, many with the same request
    return hashed_ngrams([kind_of(request)])[0]


@functools.lru_cache(maxsize=1024)
def _targets(request: str) -> frozenset[str]:
    return frozenset(targets(request))


def relevance(request: str, past: PastFailure) -> float:
    """1.0 for the same models; else how alike the kinds of change are (0..1)."""
    if _targets(request) & past.worked_on:
        return 1.0
    return cosine(_kind_vector(request), _kind_vector(past.request))
