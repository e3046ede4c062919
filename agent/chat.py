"""`ae chat`: a REPL for model development — each line is a request carried through the five phases.

It streams what each phase does, asks before building on a protected target, can undo the last
change (``/undo``), and keeps the conversation under ``.ae/conversations/<id>.json`` so
``ae chat --conversation ID`` picks it up again. ``ae chat --target T`` is the conversation's
default target; a /command's own ``--target`` runs that line on its target (agent/targets.py), in
a session opened for it on first use and kept for the lines after.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field

from agent.approvals import Ask
from agent.exit_codes import ExitCode
from agent.requests import is_command
from agent.run_command import progress_printer, render_code_question, render_summary
from agent.runner import RunOutcome, Session
from agent.settings import Settings
from agent.targets import request_target
from agent.undo import undo
from graph.progress import Emit
from tools.errors import AeError, InvalidArguments
from tools.journal import load, save
from tools.logs import current_setup, logging_to_file
from tools.paths import ensure_state_dir

HELP = """\
Type a request: a /command (see /help) or, with ANTHROPIC_API_KEY set, plain text.
  /undo      undo the files changed by the last successful request (tables already built stay)
  /history   the requests of this conversation
  /remember TEXT   keep a decision for later runs, e.g. /remember always use merge for facts
             (`ae memory list` shows what is remembered, `ae memory forget` corrects it)
  /quit      leave (the conversation id is printed so you can come back)
"""


#: the file of the state folder's logs/ that a chat's log lines go to
CHAT_LOG = "chat.log"


class Turn(BaseModel):
    request: str
    run_id: str
    status: str
    undone: bool = False


class Conversation(BaseModel):
    id: str
    turns: list[Turn] = Field(default_factory=list)

    @staticmethod
    def path(state_dir: Path, conversation_id: str) -> Path:
        return state_dir / "conversations" / f"{conversation_id}.json"

    @classmethod
    def load(cls, state_dir: Path, conversation_id: str, project_dir: Path) -> Conversation:
        path = cls.path(state_dir, conversation_id)
        if "/" in conversation_id or not path.exists():
            known = sorted(p.stem for p in path.parent.glob("*.json"))
            listed = f"known conversations: {', '.join(known)}; " if known else ""
            raise InvalidArguments(
                f"no conversation {conversation_id!r} in {path.parent}",
                hint=f"{listed}start a new one with `ae chat --project {project_dir}`",
            )
        # never through a link (a planted one could point anywhere); damage is a message naming it
        loaded = load(path, cls, what_to_do=f"move {path} aside and start a new conversation")
        if loaded is None:
            raise InvalidArguments(f"no conversation {conversation_id!r} in {path.parent}")
        return loaded

    def save(self, state_dir: Path) -> None:
        save(self.path(state_dir, self.id), self)


def _ask(prompt: str, read: Callable[[str], str]) -> bool:
    try:
        return read(prompt).strip().lower() in {"y", "yes"}
    except EOFError:
        return False


class Sessions:
    """One Session per target the conversation uses, opened on first use and kept for reuse."""

    def __init__(self, settings: Settings, default: str | None, emit: Emit, stack: ExitStack) -> None:
        self._settings = settings
        #: the conversation's target (``ae chat --target``); None is the profile's default
        self.default = default
        self._emit = emit
        self._stack = stack
        self._open: dict[str | None, Session] = {}

    def for_target(self, target: str | None) -> Session:
        """The session for ``target`` (None: the conversation's default)."""
        wanted = target or self.default
        if wanted not in self._open:
            session = self._stack.enter_context(Session(self._settings, target=wanted, emit=self._emit))
            # known under the name it resolved to as well: `--target dev` reuses the default dev session
            self._open[wanted] = self._open.setdefault(session.target, session)
        return self._open[wanted]


def chat(
    settings: Settings,
    *,
    target: str | None,
    conversation_id: str | None,
    read: Callable[[str], str] = input,
    out: TextIO,
    err: TextIO,
) -> int:
    conversation = (
        Conversation.load(settings.state_dir, conversation_id, settings.project_dir)
        if conversation_id
        else Conversation(id=secrets.token_hex(4))
    )
    come_back = f"ae chat --conversation {conversation.id} --project {settings.project_dir}"
    try:
        with ExitStack() as stack:
            _logs_off_the_terminal(settings, stack, out)
            sessions = Sessions(settings, target, progress_printer(err), stack)
            _converse(settings, sessions, conversation, read, out)
    except KeyboardInterrupt:
        print(f"\ninterrupted — resume with: {come_back}", file=out)
        return ExitCode.INTERRUPTED
    print(f"bye — resume with: {come_back}", file=out)
    return ExitCode.OK


def _logs_off_the_terminal(settings: Settings, stack: ExitStack, out: TextIO) -> None:
    """Log lines on stderr would land between the chat's own (a tool's error logged as the same
    failure shows as progress): they go to a file of the project's state folder for the conversation,
    said once. A log file the person chose (``ae --log-file``) stays theirs."""
    if not current_setup().on_stderr:
        return
    path = stack.enter_context(logging_to_file(ensure_state_dir(settings.project_dir) / "logs" / CHAT_LOG))
    print(f"log lines go to {path} (`ae --log-file PATH chat` for another file)", file=out)


def _converse(
    settings: Settings,
    sessions: Sessions,
    conversation: Conversation,
    read: Callable[[str], str],
    out: TextIO,
) -> None:
    default = sessions.for_target(None)
    print(
        f"ae chat — project {settings.project_dir}, target {default.target}, "
        f"conversation {conversation.id}. /help for help.",
        file=out,
    )
    for turn in conversation.turns:
        print(f"  earlier: {turn.request} -> {turn.status}{' (undone)' if turn.undone else ''}", file=out)
    while True:
        try:
            line = read("ae> ").strip()
        except EOFError:
            return
        if not line:
            continue
        if line in {"/quit", "/exit"}:
            return
        if line == "/help":
            print(HELP, file=out)
            line = "/help"  # and the commands' own list below
        if line == "/history":
            for i, turn in enumerate(conversation.turns, 1):
                print(f"{i}. {turn.request} -> {turn.status}{' (undone)' if turn.undone else ''}", file=out)
            continue
        if line == "/undo":
            print(_undo(settings, conversation, out), file=out)
            conversation.save(settings.state_dir)
            continue
        if line == "/remember" or line.startswith("/remember "):
            print(_remember(default, line.removeprefix("/remember").strip()), file=out)
            continue
        try:
            session = sessions.for_target(request_target(line, sessions.default, pinned=False))
            outcome = _run(session, settings, line, read, out)
        except AeError as exc:
            print(f"error: {exc}", file=out)
            continue
        if outcome is None:
            continue
        conversation.turns.append(Turn(request=line, run_id=outcome.run_id, status=outcome.status))
        conversation.save(settings.state_dir)
        print(render_summary(outcome), file=out)


def _run(
    session: Session, settings: Settings, line: str, read: Callable[[str], str], out: TextIO
) -> RunOutcome | None:
    if is_command(line):
        from agent.commands.parser import HelpRequested, parse_command

        try:
            parse_command(line)
        except HelpRequested as help_text:
            print(str(help_text), file=out)
            return None
    return session.handle(line, ask=_asking_the_person(read, out))


def _asking_the_person(read: Callable[[str], str], out: TextIO) -> Ask:
    """A plan can ask twice (its code before Validate runs any of it, then a protected target): the
    person answers each, shown the code and its diff."""

    def ask(question: dict[str, Any]) -> bool:
        if question.get("kind") == "code":
            print(render_code_question(question, with_diff=True), file=out)
            return _ask("Run this code? [y/N] ", read)
        return _ask(f"{question.get('question', 'Approve?')} [y/N] ", read)

    return ask


def _remember(session: Session, text: str) -> str:
    """A decision the person states, kept for the next runs' Plan (agent/memory)."""
    from agent.memory.cli import remember_decision

    if not text:
        return "remember what? e.g. /remember always use merge for facts"
    if session.memory is None:
        return "memory is off (memory: false in the settings); nothing was kept"
    kept = remember_decision(session.memory, text, "chat")
    return f"remembered: {kept.text} (forget it with `ae memory forget decisions {kept.key}`)"


def _undo(settings: Settings, conversation: Conversation, out: TextIO) -> str:
    """Undo the last successful request, as `ae undo` does (agent/undo.py): refused, with nothing
    changed, when newer runs or files need what it would remove."""
    for turn in reversed(conversation.turns):
        if turn.undone or turn.status != "success":
            continue
        try:
            undone = undo(settings, turn.run_id, notify=lambda m: print(f"ae: {m}", file=out))
        except AeError as exc:
            return f"could not undo {turn.request}: {exc}"
        turn.undone = True
        if undone:
            return f"undid {turn.request}: {undone.describe()}"
        return f"{turn.request} changed no files; nothing to undo"
    return "nothing to undo"
