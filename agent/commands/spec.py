"""The shape of a command: its flags, their kinds, the usage line. The catalog fills these in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

OptionKind = Literal["text", "int", "bool", "choice", "list", "mapping", "selector"]


@dataclass(frozen=True)
class OptionSpec:
    flag: str
    help: str
    kind: OptionKind = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    metavar: str = "VALUE"
    default: Any = None

    def usage(self) -> str:
        if self.kind == "bool":
            shown = f"--{self.flag}"
        elif self.kind == "choice":
            shown = f"--{self.flag} {'|'.join(self.choices)}"
        else:
            shown = f"--{self.flag} {self.metavar}"
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    summary: str
    options: tuple[OptionSpec, ...]
    example: str
    notes: str = ""

    def option(self, flag: str) -> OptionSpec | None:
        return next((o for o in self.options if o.flag == flag), None)

    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(o.usage() for o in self.options)])


TARGET_OPTION = OptionSpec(
    "target", "dbt target to run against (default: the profile's or ae's)", metavar="TARGET"
)
