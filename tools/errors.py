"""Error classes, each saying which channel it belongs to.

Three channels:
- ``retry``: a transient infrastructure fault; the policy layer retries it with backoff and the
  circuit breaker counts it.
- ``model``: something the caller (usually the LLM) can fix, e.g. a compile error or a bad selector;
  it goes back as a tool error and is never retried.
- ``raise``: an infrastructure or configuration fault that retrying will not fix; it stops the run
  with a clear message.

Anything that is not an ``AeError`` (TypeError, KeyError, ...) is a programmer error: never retried,
never shown to the model as its fault.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Channel(StrEnum):
    RETRY = "retry"
    MODEL = "model"
    RAISE = "raise"


class AeError(Exception):
    """Base of every error ae raises on purpose."""

    channel: ClassVar[Channel] = Channel.RAISE
    #: what the person or model should do about it, shown after the message
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# --- retry channel: transient faults --------------------------------------------------------------


class TransientError(AeError):
    """A fault that may pass. Its hint says what to do if it does not; whoever retries it says so
    with ``gave_up`` once the retries are over, so no message claims a retry that is not coming."""

    channel = Channel.RETRY
    #: seconds the other side asked us to wait before retrying (e.g. an HTTP retry-after header)
    retry_after: float | None = None

    def gave_up(self, attempts: int, waited_s: float) -> None:
        """Record in the message that ``attempts`` tries over ``waited_s`` seconds did not get past it."""
        given_up = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''} over {waited_s:.1f}s"
        self.hint = f"{self.hint}; {given_up}" if self.hint else given_up


class WarehouseLocked(TransientError):
    hint = "another process holds the DuckDB file for writing; let it finish, then run the command again"


class EngineCrashed(TransientError):
    hint = "the dbt engine process died; a fresh one is started on the next call"


class ConnectionFault(TransientError):
    hint = "the warehouse or service did not answer; check that it is up, then run the command again"


class WarehouseBusy(TransientError):
    """A server warehouse refused for now: a lock held by another session past the lock timeout, a
    deadlock, a serialization conflict. Another session's work; it passes when that work ends."""

    hint = (
        "another session holds a lock or wrote the same rows (lock timeout, deadlock or serialization "
        "conflict); let it finish, then run the command again"
    )


# --- model channel: fixable by the caller ---------------------------------------------------------


class ModelFixableError(AeError):
    channel = Channel.MODEL


class InvalidArguments(ModelFixableError):
    """Arguments to a tool or dbt command were rejected before anything ran."""


class EmptySelection(ModelFixableError):
    hint = "check the node names with the ls or list_files tools; a selection must match something"


class DbtCompilationError(ModelFixableError):
    """dbt could not parse or compile the project (Jinja, YAML or SQL error in a file)."""


class UnknownNode(ModelFixableError):
    pass


class PathRefused(ModelFixableError):
    hint = "paths must stay inside the dbt project and may not name the warehouse file"


class ReadOnlyViolation(ModelFixableError):
    hint = "this tool only runs one read-only statement (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN ...)"


class QueryError(ModelFixableError):
    """The warehouse rejected a SQL statement (syntax error, unknown column...)."""


class NotOnAdapter(ModelFixableError):
    """A warehouse capability this adapter does not offer (``not on duckdb: moving a relation to
    another schema``). Said at run time, never skipped: the message names the adapter and the
    capability, the hint what to do instead. On the model channel: a model can choose another
    tool; a phase that can do without the capability catches it and reports what it left out."""

    def __init__(self, adapter: str, what: str, *, hint: str = "") -> None:
        super().__init__(f"not on {adapter}: {what}", hint=hint)
        self.adapter = adapter


# --- raise channel: stop with a clear message -----------------------------------------------------


class ConfigurationError(AeError):
    channel = Channel.RAISE


class UnknownTarget(ConfigurationError):
    """A --target the profile does not define: how ae was called, not the environment (exit 2)."""


class PackagesNotInstalled(ConfigurationError):
    """dbt stopped because packages.yml names packages that are not installed (dbt's "Run dbt deps"):
    the machine lacks them, the project's files are fine."""

    hint = (
        "install them with `dbt deps` in the project; offline, give each a local copy with "
        "`/dbt-package --name NAME --local PATH`"
    )


#: how dbt says its packages are missing (dbt.exceptions.UninstalledPackagesFoundError, which dbt
#: raises as a compilation error: the engine's parent gets its text)
_DEPS_NEEDED = 'Run "dbt deps"'


def environment_fault(exc: AeError) -> ConfigurationError | None:
    """``exc`` as what makes the environment unusable (exit 5, a run's status ``environment``), or
    None: a configuration fault (no profile, no warehouse file, packages not installed, an LLM that
    refuses the key) except a target the profile does not define (how ae was called), and dbt
    stopping for packages not installed, which it reports as a compilation error."""
    if isinstance(exc, UnknownTarget):
        return None
    if _DEPS_NEEDED in exc.message and not isinstance(exc, PackagesNotInstalled):
        return PackagesNotInstalled(exc.message)
    return exc if isinstance(exc, ConfigurationError) else None


class EngineTimeout(AeError):
    """A dbt call ran past its time limit and its engine was killed.

    Not transient: the same call on the same project runs just as long again, so retrying it (or
    repeating its phase) only multiplies the wait. It fails the call with what to change.
    """

    channel = Channel.RAISE


class CircuitOpen(AeError):
    channel = Channel.RAISE
    hint = "too many consecutive transient failures; calls fail fast until the cool-down ends"


# --- how a command ended without running to its end ---------------------------------------------------


class ApprovalRequired(AeError):
    """Refused before anything changed: a protected target without --yes (exit 3)."""


class Interrupted(AeError):
    """Ctrl-C: the message says which run stopped and how to resume it (exit 130)."""


def channel_of(exc: BaseException) -> Channel | None:
    """The channel of an error, or None for a programmer error (never retried)."""
    return exc.channel if isinstance(exc, AeError) else None
