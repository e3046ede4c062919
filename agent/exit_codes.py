"""What ae's exit codes mean, the same on every project: the one place that decides them.

Scripts branch on these, so a cause maps to one code whichever project or phase it shows up in.
"""

from __future__ import annotations

from enum import IntEnum

from tools.errors import (
    AeError,
    ApprovalRequired,
    Channel,
    DbtCompilationError,
    Interrupted,
    UnknownTarget,
    environment_fault,
)


class ExitCode(IntEnum):
    OK = 0
    #: the run failed and was rolled back: the project does not parse, dbt or a test failed,
    #: a transient fault outlasted its retries
    FAILED = 1
    #: bad usage of ae: unknown command or flag, a bad argument value (a model or target that does
    #: not exist), an empty request
    USAGE = 2
    #: refused: building on a protected target needs --yes, code in a plan needs --allow-code
    REFUSED = 3
    #: paused: resume with `ae resume RUN_ID`
    PAUSED = 4
    #: the environment is not usable: no dbt_project.yml, no profile, the warehouse file missing or
    #: unreadable, the project's packages not installed
    ENVIRONMENT = 5
    INTERRUPTED = 130


HELP = """\
exit codes (the same on every project):
  0  success
  1  failed: the run was rolled back (the project does not parse, dbt or a test failed, a
     transient fault outlasted its retries); `ae doctor`: a check failed; `ae eval`: a threshold missed
  2  bad usage of ae: unknown command or flag, bad argument value, unknown target, empty request
  3  refused, nothing changed: a protected target needs --yes, code in the plan needs --allow-code
  4  paused: resume with `ae resume RUN_ID`
  5  the environment is not usable: no dbt_project.yml, profile not found, warehouse file missing
     or unreadable, packages not installed (`dbt deps`)
  130  interrupted (Ctrl-C): resume with `ae resume RUN_ID` when a run had started
"""

#: a run's final status (graph/state.py Status, plus the runner's own) -> its code
_BY_STATUS = {
    "success": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "invalid": ExitCode.USAGE,
    "refused": ExitCode.REFUSED,
    "awaiting_approval": ExitCode.REFUSED,
    "paused": ExitCode.PAUSED,
    #: the run stopped before changing anything because the environment is not usable
    #: (tools.errors.environment_fault: no warehouse file to read, packages not installed ...)
    "environment": ExitCode.ENVIRONMENT,
    #: what a run killed mid-way is recorded as (agent/store.py)
    "interrupted": ExitCode.INTERRUPTED,
}


#: the ``status`` of a --json document for an exit code: run statuses where one applies
_STATUS_BY_CODE = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "failed",
    ExitCode.USAGE: "invalid",
    ExitCode.REFUSED: "refused",
    ExitCode.PAUSED: "paused",
    ExitCode.ENVIRONMENT: "environment",
    ExitCode.INTERRUPTED: "interrupted",
}


def for_status(status: str) -> ExitCode:
    return _BY_STATUS.get(status, ExitCode.FAILED)


def status_for(code: ExitCode) -> str:
    """What a --json document's ``status`` says for an error that ends ae with ``code``."""
    return _STATUS_BY_CODE[code]


def for_error(exc: AeError) -> ExitCode:
    """The code for an error that stopped ae before or outside a run."""
    if isinstance(exc, ApprovalRequired):
        return ExitCode.REFUSED
    if isinstance(exc, Interrupted):
        return ExitCode.INTERRUPTED
    if isinstance(exc, UnknownTarget):
        return ExitCode.USAGE
    if environment_fault(exc) is not None:
        return ExitCode.ENVIRONMENT
    if isinstance(exc, DbtCompilationError):  # the project's files, not how ae was called
        return ExitCode.FAILED
    if exc.channel == Channel.MODEL:
        return ExitCode.USAGE
    return ExitCode.FAILED
