"""Replay a recorded Claude run: its model responses, against the current code and a project copy.

``ae replay RUN_ID`` (or a transcript file) runs the recorded request again through all five
phases, on a copy of the project and of its warehouse (agent/replay_sandbox.py), with the model's
answers taken from the run's ``transcript.jsonl`` instead of the API (the scripted client; no key,
no network, no cost). Before answering each call it checks that the
model would have been shown exactly what it was shown when recorded; the first place where it
would not (a tool result that differs, a changed prompt or tool definition, a call the recording
does not have) is a divergence. A transcript recorded once with a real key thereby becomes an
offline regression test of everything around the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import LLMRequest, LLMResponse
from agent.llm.scripted import ScriptedClient
from agent.llm.transcript import TRANSCRIPT_FILE, read_transcript, request_digest
from agent.runs import run_folder
from tools.errors import InvalidArguments
from tools.paths import refuse_state_links

if TYPE_CHECKING:
    from agent.runner import RunOutcome
    from agent.settings import Settings
    from graph.progress import Emit

#: how much of a differing message a divergence quotes
QUOTE_CHARS = 300


@dataclass(frozen=True)
class Divergence:
    """Where the replayed run stopped matching the recording."""

    visit: int
    step: int
    what: str

    def render(self) -> str:
        return f"visit {self.visit}, model call {self.step}: {self.what}"


@dataclass(frozen=True)
class RecordedCall:
    visit: int
    step: int
    sha256: str
    #: the whole conversation the model saw, rebuilt from the transcript's per-call additions
    messages: list[dict[str, Any]]
    response: LLMResponse


@dataclass(frozen=True)
class Recording:
    request: str
    calls: list[RecordedCall]

    @classmethod
    def load(cls, path: Path) -> Recording:
        request: str | None = None
        calls: list[RecordedCall] = []
        conversation: list[dict[str, Any]] = []
        pending: dict[str, Any] | None = None
        for record in read_transcript(path):
            if record["kind"] == "visit":
                request = request if request is not None else record["request"]
                conversation = []
            elif record["kind"] == "request":
                conversation = [*conversation, *record["new_messages"]]
                pending = record
            elif record["kind"] == "response" and pending is not None:
                calls.append(
                    RecordedCall(
                        visit=pending["visit"],
                        step=pending["step"],
                        sha256=pending["sha256"],
                        messages=conversation,
                        response=LLMResponse.model_validate(record["response"]),
                    )
                )
                pending = None
        if request is None or not calls:
            raise InvalidArguments(
                f"{path} holds no recorded Claude run (no visit line or no model call)",
                hint="replay the transcript.jsonl of a run that Claude planned: ae replay RUN_ID",
            )
        return cls(request=request, calls=calls)


@dataclass
class ReplayClient:
    """An ``LLMClient`` answering from a recording and noting where the input stopped matching."""

    recording: Recording
    divergences: list[Divergence] = field(default_factory=list)
    scripted: ScriptedClient = field(init=False)

    def __post_init__(self) -> None:
        self.scripted = ScriptedClient(self._answer)

    def complete(self, request: LLMRequest) -> LLMResponse:
        return self.scripted.complete(request)

    @property
    def calls(self) -> int:
        return self.scripted.calls

    def _answer(self, request: LLMRequest, index: int) -> LLMResponse:
        calls = self.recording.calls
        if index >= len(calls):
            last = calls[-1]
            self._diverged(
                last.visit, index + 1, f"the run asked the model again; {len(calls)} calls were recorded"
            )
            # the recording has nothing more to say: end the visit with a plain answer
            return last.response.model_copy(update={"content": [], "stop_reason": "refusal"})
        recorded = calls[index]
        if request_digest(request) != recorded.sha256:
            self._diverged(recorded.visit, recorded.step, _what_differs(recorded.messages, request))
        return recorded.response

    def finished(self) -> None:
        """After the run: a recording with calls left over means the run ended sooner."""
        left = len(self.recording.calls) - self.calls
        if left > 0:
            nxt = self.recording.calls[self.calls]
            self._diverged(nxt.visit, nxt.step, f"the run ended with {left} recorded model call(s) unused")

    def _diverged(self, visit: int, step: int, what: str) -> None:
        self.divergences.append(Divergence(visit=visit, step=step, what=what))


def _what_differs(recorded: Sequence[dict[str, Any]], request: LLMRequest) -> str:
    now = request.messages
    for index, (was, is_) in enumerate(zip(recorded, now, strict=False)):
        if _plain(was) == _plain(is_):
            continue
        return _message_difference(index, was, is_)
    if len(recorded) != len(now):
        return f"the conversation has {len(now)} messages where {len(recorded)} were recorded"
    return "the system prompt or the tool definitions differ from the recording"


def _message_difference(index: int, was: dict[str, Any], is_: dict[str, Any]) -> str:
    old, new = _blocks(was), _blocks(is_)
    for a, b in zip(old, new, strict=False):
        if _plain(a) == _plain(b):
            continue
        if a.get("type") == "tool_result":
            return (
                f"the result of tool call {a.get('tool_use_id')} differs: recorded "
                f"{_quote(a.get('content'))}, now {_quote(b.get('content'))}"
            )
        return f"message {index + 1} ({is_.get('role')}) differs: recorded {_quote(a)}, now {_quote(b)}"
    return f"message {index + 1} ({is_.get('role')}) has {len(new)} blocks where {len(old)} were recorded"


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else _plain(value)
    text = " ".join(text.split())
    return repr(text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…")


# --- running a replay -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    outcome: RunOutcome
    divergences: list[Divergence]
    calls_recorded: int
    calls_made: int
    #: where the replay ran: the copies of the project and warehouse (agent/replay_sandbox.py)
    ran_in: str = ""

    @property
    def reproduced(self) -> bool:
        return not self.divergences

    def render(self) -> str:
        head = (
            f"replay reproduced the recorded run ({self.calls_made} model calls)"
            if self.reproduced
            else f"replay DIVERGED from the recording ({self.calls_made} of {self.calls_recorded} "
            "model calls made):"
        )
        lines = [head, *(f"- {d.render()}" for d in self.divergences)]
        return "\n".join([*lines, self.ran_in] if self.ran_in else lines)


def replay(
    settings: Settings,
    transcript: Path,
    *,
    emit: Emit | None = None,
    target: str | None = None,
    keep: bool = False,
) -> ReplayResult:
    """Run the recorded request with the recorded model answers, on a copy of ``settings``' project
    and of ``target``'s warehouse (agent/replay_sandbox.py), never on the real ones; ``keep`` leaves
    the copy in place."""
    from agent.approvals import nobody_approves
    from agent.claude_planner import ClaudePlanner
    from agent.commands.describer import HeuristicDescriber
    from agent.replay_sandbox import sandbox
    from agent.runner import Session
    from graph.progress import silent

    recording = Recording.load(transcript)
    client = ReplayClient(recording)
    with sandbox(settings, target, keep=keep) as box:
        # the recorded run's budgets must not cut the replay short: it spends nothing
        planner = ClaudePlanner.from_settings(box.settings.model_copy(update={"max_cost_usd": 0}), client)
        with Session(box.settings, emit=emit or silent) as session:
            outcome = session.handle(
                recording.request, planner=planner, describer=HeuristicDescriber(), ask=nobody_approves
            )
        ran_in = box.describe(kept=keep)
    client.finished()
    return ReplayResult(
        outcome=outcome,
        divergences=client.divergences,
        calls_recorded=len(recording.calls),
        calls_made=client.calls,
        ran_in=ran_in,
    )


def transcript_of(settings: Settings, run_or_file: str) -> Path:
    """A run id of this project, or a path to a transcript file."""
    given = Path(run_or_file).expanduser()
    if given.is_file():
        return given
    folder = run_folder(settings.state_dir, run_or_file)  # never through a link under .ae
    path = (folder or settings.state_dir / "runs" / run_or_file) / TRANSCRIPT_FILE
    refuse_state_links(path)
    if folder is None or not path.is_file():
        raise InvalidArguments(
            f"no transcript for {run_or_file!r}: neither a file nor a run of {settings.project_dir} "
            f"with {TRANSCRIPT_FILE} (looked at {path})",
            hint="list runs with: ae runs   (only runs Claude planned have a transcript)",
        )
    return path
