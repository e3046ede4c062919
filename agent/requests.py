"""What a request is, checked the same way by every way in (``ae run``, chat, the queue, MCP, evals).

Imports nothing heavy: ``ae --help`` and ``/help`` pass through here.
"""

from __future__ import annotations

import re

from tools.errors import InvalidArguments

#: a request larger than this is refused before it goes anywhere: a 200 KB request once kept a
#: worker busy for two minutes planning nothing useful
MAX_REQUEST_BYTES = 32 * 1024

_COMMAND = re.compile(r"\s*/\S")


def is_command(request: str) -> bool:
    """A structured ``/command`` (planned without an LLM), not free text: a slash and a name."""
    return bool(_COMMAND.match(request))


def check_request(request: str | None) -> None:
    """What every way in checks before a request goes anywhere: it is not empty (a usage error, said
    as such, not as "free text needs Claude") and not larger than MAX_REQUEST_BYTES."""
    if request is None:
        return
    if not request.strip():
        raise InvalidArguments(
            "the request is empty",
            hint='give a /command (`ae run "/help"` lists them), or a task in words with a Claude key',
        )
    size = len(request.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        raise InvalidArguments(
            f"the request is {size:,} bytes; a request may hold at most {MAX_REQUEST_BYTES:,} "
            f"({MAX_REQUEST_BYTES // 1024} KiB)",
            hint="put long material (a spec, SQL, data) in a file in the project and name the file in "
            "the request",
        )
