"""Every dbt invocation of a run, by phase and command: journaled in the run folder as it starts
(so a resumed run counts those of the process before), summed for the report."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from tools.journal import append_line, read_lines

JOURNAL_FILE = "dbt_calls.jsonl"


class DbtInvocation(BaseModel):
    phase: str
    command: str


def journal_invocation(run_dir: Path, invocation: DbtInvocation) -> None:
    append_line(run_dir / JOURNAL_FILE, invocation.model_dump_json())


class DbtCallCounts(BaseModel):
    #: phase -> dbt command -> invocations (retries included: each is a dbt call)
    by_phase: dict[str, dict[str, int]] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(commands.values()) for commands in self.by_phase.values())

    def line(self) -> str:
        """``3 (plan: parse; execute: 2 build)`` for the summary."""
        parts = [
            f"{phase}: "
            + ", ".join(f"{n} {command}" if n > 1 else command for command, n in commands.items())
            for phase, commands in self.by_phase.items()
        ]
        return f"{self.total}" + (f" ({'; '.join(parts)})" if parts else "")


def count_invocations(run_dir: Path) -> DbtCallCounts:
    counts = DbtCallCounts()
    for invocation in read_lines(run_dir / JOURNAL_FILE, DbtInvocation).records:
        commands = counts.by_phase.setdefault(invocation.phase, {})
        commands[invocation.command] = commands.get(invocation.command, 0) + 1
    return counts
