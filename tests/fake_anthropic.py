"""A fake Anthropic Messages API on 127.0.0.1, for driving the real ``anthropic`` SDK in tests.

It is a real HTTP server (stdlib ``ThreadingHTTPServer``, ephemeral port, background thread) that
answers ``POST /v1/messages`` from a script: a list of ``Step``s, one per request in arrival order,
or a callable ``(request_json, index) -> Step``. Steps cover what the real API does to a client:
normal replies (text, tool_use, any stop reason, usage with cache fields), errors in Anthropic's
JSON shape (429 with ``retry-after``, 529 overloaded, 500, 400, 401), slow answers that run past a
client timeout, tool input that breaks the tool's schema, and a stop at ``max_tokens`` mid tool call.

    with FakeAnthropic([rate_limited(retry_after=0.01), text("hello")]) as api:
        client = AnthropicClient(api_key="test-key", base_url=api.base_url, max_retries=1)
        ...
        assert api.requests[1].body["model"] == ...

Any key is accepted (``x-api-key`` or ``authorization`` header); the server records that one was
sent, never its value.

With ``prompt_cache=PromptCache()`` the server computes the input side of each reply's usage the
way Anthropic does (see ``PromptCache``), so a test can measure what the client's cache
breakpoints save.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_SECRET_HEADERS = frozenset({"x-api-key", "authorization"})
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Step:
    """One scripted answer. For status 200 the server completes ``body`` into a full Message
    (id, type, role, model echoed from the request); otherwise ``body`` is sent as is."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (to push a client past its timeout)
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    #: lower-cased header names; secret headers have their value replaced by ``REDACTED``
    headers: dict[str, str]
    body: dict[str, Any]
    raw_body: bytes

    @property
    def api_key_sent(self) -> bool:
        # The SDK sends the key as ``x-api-key`` or, in recent versions, ``authorization: Bearer``.
        return any(name in self.headers for name in _SECRET_HEADERS)


Script = Sequence[Step] | Callable[[dict[str, Any], int], Step]

# --- step builders --------------------------------------------------------------------------------


def token_usage(
    input: int = 10, output: int = 5, *, cache_read: int = 0, cache_write: int = 0
) -> dict[str, int]:
    return {
        "input_tokens": input,
        "output_tokens": output,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def message(content: list[dict[str, Any]], *, stop_reason: str, usage: dict[str, int] | None = None) -> Step:
    return Step(
        status=200,
        body={
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage if usage is not None else token_usage(),
        },
    )


def text(text: str, *, stop_reason: str = "end_turn", usage: dict[str, int] | None = None) -> Step:
    return message([{"type": "text", "text": text}], stop_reason=stop_reason, usage=usage)


def tool_use(
    name: str,
    input: Any,
    *,
    id: str | None = None,
    text: str | None = None,
    stop_reason: str = "tool_use",
    usage: dict[str, int] | None = None,
) -> Step:
    """A tool call. ``input`` is sent exactly as given and never checked against any schema, so a
    test can send malformed input (missing keys, wrong types) the way a confused model would."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": id or f"toolu_fake_{name}", "name": name, "input": input})
    return message(content, stop_reason=stop_reason, usage=usage)


def truncated_tool_use(name: str, partial_input: dict[str, Any], *, id: str | None = None) -> Step:
    """The output budget ran out while the model was writing a tool call: the block carries only
    part of its input and the stop reason is ``max_tokens``."""
    return tool_use(name, partial_input, id=id, stop_reason="max_tokens")


def api_error(status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> Step:
    """An error in the API's shape: ``{"type": "error", "error": {"type": ..., "message": ...}}``."""
    return Step(
        status=status,
        body={"type": "error", "error": {"type": error_type, "message": message}},
        headers=dict(headers or {}),
    )


def rate_limited(retry_after: float = 1.0) -> Step:
    return api_error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {"retry-after": f"{retry_after:g}"},
    )


def overloaded() -> Step:
    return api_error(529, "overloaded_error", "Overloaded")


def server_error() -> Step:
    return api_error(500, "api_error", "Internal server error")


def bad_request(message: str = "messages: at least one message is required") -> Step:
    return api_error(400, "invalid_request_error", message)


def unauthorized() -> Step:
    return api_error(401, "authentication_error", "invalid x-api-key")


def slow(step: Step, seconds: float) -> Step:
    return dataclasses.replace(step, delay_s=seconds)


# --- prompt caching --------------------------------------------------------------------------------


@dataclass
class PromptCache:
    """Anthropic's prompt cache, modelled: the prompt is the blocks of tools, then system, then each
    message's content, in that order. A block with ``cache_control`` is a breakpoint; the request
    writes the prefix ending at each breakpoint to the cache. A later request reads the longest
    prefix that was written before and ends at one of its breakpoints or at one of the
    ``LOOKBACK`` block boundaries before it (the API checks about 20). Usage then is
    ``cache_read`` (that prefix), ``cache_creation`` (from there up to the last breakpoint) and
    ``input`` (the rest). Tokens are estimated as a quarter of each block's JSON length.
    """

    LOOKBACK = 20
    written: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def usage(self, request: dict[str, Any]) -> dict[str, int]:
        blocks = _prompt_blocks(request)
        digests, tokens, breakpoints = [], [], []
        running = hashlib.sha256()
        for index, block in enumerate(blocks):
            if block.get("cache_control"):
                breakpoints.append(index)
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            text = json.dumps(plain, sort_keys=True)
            running.update(text.encode())
            digests.append(running.hexdigest())
            tokens.append(max(1, len(text) // 4))
        prefix = [0]
        for count in tokens:
            prefix.append(prefix[-1] + count)
        with self.lock:
            read_end = 0
            for bp in breakpoints:
                for end in range(bp, max(-1, bp - self.LOOKBACK - 1), -1):
                    if digests[end] in self.written:
                        read_end = max(read_end, end + 1)
                        break
            write_end = max(read_end, breakpoints[-1] + 1) if breakpoints else read_end
            self.written.update(digests[bp] for bp in breakpoints)
        return {
            "cache_read_input_tokens": prefix[read_end],
            "cache_creation_input_tokens": prefix[write_end] - prefix[read_end],
            "input_tokens": prefix[-1] - prefix[write_end],
        }


def _prompt_blocks(request: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = list(request.get("tools", []))
    system = request.get("system", [])
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else list(system)
    for message in request.get("messages", []):
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        # the role is part of what the model sees, so it is part of the cached prefix
        blocks += [{"role": message["role"], **part} for part in parts]
    return blocks


# --- the server -----------------------------------------------------------------------------------


class FakeAnthropic:
    """The server. Starts on construction; ``stop()`` (or leaving the ``with`` block) shuts it down
    and releases any answer still waiting out a delay."""

    def __init__(self, script: Script, *, prompt_cache: PromptCache | None = None) -> None:
        self._script = script
        self.prompt_cache = prompt_cache
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, and tests stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # called from handler threads
    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests) - 1

    def _step_for(self, body: dict[str, Any], index: int) -> Step:
        if callable(self._script):
            return self._script(body, index)
        if index < len(self._script):
            return self._script[index]
        return bad_request(
            f"FakeAnthropic script exhausted: request #{index + 1} arrived but the script has "
            f"{len(self._script)} steps"
        )

    def _wait(self, seconds: float) -> bool:
        """Sleep, cut short by ``stop()``; True if the server is still running afterwards."""
        return not self._stopping.wait(seconds)


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path.split("?", 1)[0] != "/v1/messages":
                self._send(
                    api_error(404, "not_found_error", f"only /v1/messages is served, not {self.path}"), 0
                )
                return
            body = json.loads(raw) if raw else {}
            headers = {
                name.lower(): REDACTED if name.lower() in _SECRET_HEADERS else value
                for name, value in self.headers.items()
            }
            index = fake._record(RecordedRequest(path=self.path, headers=headers, body=body, raw_body=raw))
            step = fake._step_for(body, index)
            if step.delay_s and not fake._wait(step.delay_s):
                return
            if step.status == 200:
                step = dataclasses.replace(step, body=_complete_message(step.body, body, index))
                if fake.prompt_cache is not None:
                    step.body["usage"] = {**step.body["usage"], **fake.prompt_cache.usage(body)}
            self._send(step, index)

        def _send(self, step: Step, index: int) -> None:
            payload = json.dumps(step.body).encode()
            try:
                self.send_response(step.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", f"req_fake_{index:04d}")
                for name, value in step.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timed out) before the answer came; that is the point of a delay

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


def _complete_message(partial: dict[str, Any], request: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{index:04d}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", "claude-fake"),
        **partial,
    }
