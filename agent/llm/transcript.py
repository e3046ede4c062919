"""The conversation of a run as ``transcript.jsonl``: one JSON object per line, secrets redacted.

Three kinds of line, in the order they happened:

- ``visit``: a Plan visit starts; the first one carries the run's request, so a transcript can be
  replayed on its own (agent/replay.py).
- ``request``: the model call about to be made. It carries the messages added since the previous
  request of the same Plan visit (so the file grows linearly, not quadratically) and ``sha256``, a
  digest of everything the model would see (system, tools, all messages). Replay compares digests
  to tell where a changed tool or prompt would have shown the model different input.
- ``response``: what came back (``agent.llm.base.LLMResponse`` dumped), with its usage and seconds.

The file is appended to across Plan visits (``visit`` numbers them), so a run has one transcript.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.llm.base import LLMRequest, LLMResponse
from graph.report import TRANSCRIPT_FILE
from tools.logs import redact

__all__ = ["TRANSCRIPT_FILE", "Transcript", "read_transcript", "request_digest"]


def request_digest(request: LLMRequest) -> str:
    """What the model sees, as one digest: equal digests mean the model got the same input."""
    seen = {"system": request.system, "tools": request.tools, "messages": request.messages}
    return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Transcript:
    path: Path
    visit: int = 1
    _sent: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def visit_started(self, request: str) -> None:
        self._write({"kind": "visit", "visit": self.visit, "request": request})

    def request(self, step: int, request: LLMRequest) -> None:
        new = request.messages[self._sent :]
        self._sent = len(request.messages)
        self._write(
            {
                "kind": "request",
                "visit": self.visit,
                "step": step,
                "sha256": request_digest(request),
                "new_messages": new,
            }
        )

    def response(self, step: int, response: LLMResponse, seconds: float) -> None:
        self._write(
            {
                "kind": "response",
                "visit": self.visit,
                "step": step,
                "seconds": round(seconds, 3),
                "response": response.model_dump(mode="json"),
            }
        )

    def _write(self, record: dict[str, Any]) -> None:
        # redacted as text: a secret may sit anywhere in a tool result or a model's answer
        line = redact(json.dumps(record, sort_keys=True, default=str))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")


def read_transcript(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number} is not a JSON line: {exc}") from exc
