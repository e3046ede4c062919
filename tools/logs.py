"""Structured logging with secret redaction.

JSON lines when stderr is not a terminal (CI, workers, pipes); a readable console otherwise.
Every event passes ``redact`` so API keys and passwords never reach a log, and the same function
is used for error messages and anything written to disk (reports, run records).

structlog is imported where logging is set up or a logger is made, not with this module: ``redact``
is on the path of `ae --help` and of every error message, which must not pay for it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

REDACTED = "***"

_known_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# Patterns for secrets that we may not have been told about explicitly.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Anthropic / OpenAI style keys
    (re.compile(r"sk-(?:ant-)?[A-Za-z0-9_\-]{8,}"), REDACTED),
    # user:password@ in URLs (postgresql://u:p@host/db). The password runs to the *last* @ of the
    # word: an unencoded @ inside it must not leave its tail behind.
    (
        re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]+:)\S+@(?=[^@\s]*(?:\s|$))"),
        rf"\g<scheme>{REDACTED}@",
    ),
    # the same without its scheme, as a message cut mid-URL shows it (`...aeuser:PgPass@127.0.0.1`)
    (
        re.compile(r"(?<![\w/:.\-])(?P<user>[A-Za-z0-9_.\-]+:)[^\s@/:*]+@(?=[^@\s]*(?:\s|$))"),
        rf"\g<user>{REDACTED}@",
    ),
    # key: value / key=value for secret-looking keys (profiles.yml, env dumps, headers)
    (
        re.compile(
            r"(?P<key>\b(?:password|passwd|pass|secret|token|api[_-]?key|x-api-key|authorization"
            r"|\w+_(?:password|secret|token)|private_key\w*|secret_\w+)"
            r"\b[\"']?\s*[:=]\s*[\"']?)(?P<val>(?!\{)[^\s\"',}]+)",
            re.IGNORECASE,
        ),
        rf"\g<key>{REDACTED}",
    ),
)

_SECRET_KEYS = re.compile(r"(password|passwd|secret|token|api[_-]?key|authorization)", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a secret value (e.g. the configured API key) so it is redacted wherever it appears."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _known_secrets.add(value)


def known_secrets() -> list[str]:
    """The registered secret values, longest first (a secret that contains another goes first)."""
    with _secrets_lock:
        return sorted(_known_secrets, key=len, reverse=True)


def redact_known(text: str) -> str:
    """Replace only the registered secret values: for data that is read back (a checkpoint), where
    the patterns below would also rewrite ordinary text such as SQL's ``where password = 'x'``."""
    for secret in known_secrets():
        text = text.replace(secret, REDACTED)
    return text


def redact(text: str) -> str:
    """Remove secrets from free text."""
    text = redact_known(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """Redact secrets inside nested data (dicts, lists, strings) before logging or writing it."""
    if key and _SECRET_KEYS.search(key) and isinstance(value, str | bytes) and value:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_known_values(value: Any) -> Any:
    """``value`` with the registered secrets replaced in every string of its dicts, lists and tuples
    (keys and other objects are kept as they are, so the structure reads back the same)."""
    if isinstance(value, str):
        return redact_known(value)
    if type(value) is dict:
        return {k: redact_known_values(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(redact_known_values(v) for v in value)
    return value


def _redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    return {k: redact_value(v, k) for k, v in event_dict.items()}


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing (not when logging was set up),
    so a replaced or captured stderr never leaves the logger holding a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


@dataclass(frozen=True)
class LogSetup:
    """How logging was last configured (``configure_logging``), so a caller can move it and back."""

    json: bool | None = None
    level: str = "WARNING"
    #: None: whatever ``sys.stderr`` is when a line is written
    stream: Any = None

    @property
    def on_stderr(self) -> bool:
        return self.stream is None or self.stream is sys.stderr


class _Current:
    """The setup in force (set by ``configure_logging`` only)."""

    setup = LogSetup()


def current_setup() -> LogSetup:
    return _Current.setup


@contextmanager
def logging_to_file(path: Path) -> Iterator[Path]:
    """Log lines (JSON, at the level set) appended to ``path`` while the body runs, then logging as it
    was: for a program whose own output is on the terminal (``ae chat``), where a log line would land
    between its lines."""
    before = _Current.setup
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", buffering=1) as stream:
        configure_logging(json=True, level=before.level, stream=stream)
        try:
            yield path
        finally:
            configure_logging(json=before.json, level=before.level, stream=before.stream)


def configure_logging(*, json: bool | None = None, level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog once for the process.

    ``json=None`` picks JSON lines unless the stream is a terminal. Each event is one whole line,
    written and flushed at once, so log lines never split another writer's line on the same stream.
    """
    import structlog

    _Current.setup = LogSetup(json=json, level=level, stream=stream)
    out = stream if stream is not None else _CurrentStderr()
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, out)),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A logger; a library caller (a test, a worker) that never set logging up still gets redacted
    lines on stderr at WARNING, not structlog's default of everything, unredacted, on stdout."""
    import structlog

    if not structlog.is_configured():
        configure_logging(level="WARNING")
    return structlog.get_logger(name)
