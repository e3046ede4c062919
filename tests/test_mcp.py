"""ae's MCP server through the SDK's real client, over stdio and Streamable HTTP (issue 17).

The server runs as its own process (``python -m agent.mcp``, what ``ae mcp`` runs) on a tiny real
dbt project; dbt and DuckDB are real.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.dbt_project_factory import write_tiny_project
from tools.context import ToolContext

ROOT = Path(__file__).resolve().parents[1]
READS = {
    "ae_lineage",
    "ae_list",
    "ae_show",
    "ae_sql",
    "ae_profile",
    "ae_describe",
    "ae_compile",
    "ae_freshness",
    "ae_docs",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "user" / "config.yml"))
    for name in ("AE_PROTECTED_TARGETS", "AE_STORE_URL", "DBT_TARGET", "AE_MCP_TOOLS", "AE_MCP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return write_tiny_project(tmp_path / "tiny")


def _server_args(project: Path, *extra: str) -> list[str]:
    return ["-m", "agent.mcp", "--project", str(project), *extra]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TOKEN = "s3cret-for-tests"


@pytest.fixture
def http_server(project: Path) -> Iterator[str]:
    """A server on loopback that still asks for a token (as one on another address must)."""
    port = _free_port()
    argv = [sys.executable, *_server_args(project, "--http", f"127.0.0.1:{port}", "--token", TOKEN)]
    proc = subprocess.Popen(argv, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert proc.poll() is None, "the HTTP server exited before listening"
            assert time.monotonic() < deadline, "the HTTP server did not listen within 30 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@asynccontextmanager
async def _connect(server: StdioServerParameters | str) -> AsyncIterator[Client]:
    if isinstance(server, StdioServerParameters):
        async with Client(server, read_timeout_seconds=180) as client:
            yield client
        return
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(server, http_client=http), read_timeout_seconds=180) as client,
    ):
        yield client


async def _exercise(client: Client) -> None:
    """Everything issue 17 asks of one transport, on one server (dbt starts once)."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) >= READS and "ae_run" in listed
    for name in READS:
        annotations = listed[name].annotations
        assert annotations is not None and annotations.read_only_hint and annotations.idempotent_hint, name
    run_annotations = listed["ae_run"].annotations
    assert run_annotations is not None and run_annotations.destructive_hint

    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    run = await client.call_tool(
        "ae_run", {"request": "/dbt-run --select stg_people"}, progress_callback=on_progress
    )
    assert not run.is_error, run.content
    assert run.structured_content is not None and run.structured_content["status"] == "success"
    assert Path(run.structured_content["report_path"]).is_file()
    assert any("execute" in line for line in messages), messages

    shown = await client.call_tool("ae_show", {"select": "stg_people", "limit": 2})
    assert not shown.is_error, shown.content
    assert shown.structured_content is not None
    assert shown.structured_content["columns"] == ["person_id", "name", "age"]
    assert len(shown.structured_content["rows"]) == 2 and "limit" in shown.structured_content["narrowed"]

    models = await client.call_tool(
        "ae_list", {"select": "stg_people+", "exclude": "adults", "resource_type": "model"}
    )
    assert not models.is_error, models.content
    assert models.structured_content is not None
    assert [name.rsplit(".", 1)[-1] for name in models.structured_content["listed"]] == ["stg_people"]

    lineage = await client.call_tool("ae_lineage", {"node": "stg_people"})
    assert not lineage.is_error, lineage.content
    assert "adults" in str(lineage.structured_content)

    hostile = await client.call_tool("ae_sql", {"sql": "copy (select 1) to '/tmp/pwned.csv'; drop table x"})
    assert hostile.is_error and "refused" in str(hostile.content).lower()
    bad_type = await client.call_tool("ae_show", {"select": "stg_people", "limit": 10**9})
    assert bad_type.is_error

    protected = await client.call_tool("ae_run", {"request": "/dbt-run --select stg_people --target prod"})
    assert protected.is_error
    assert "protected" in str(protected.content) and "--allow-protected" in str(protected.content)
    approved = await client.call_tool(
        "ae_run", {"request": "/dbt-run --select stg_people", "target": "prod", "approve_protected": True}
    )
    assert approved.is_error, "a client approved a protected target on a server without --allow-protected"


@pytest.mark.slow
def test_mcp_over_stdio(project: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=_server_args(project), env=dict(os.environ), cwd=str(ROOT)
    )

    async def main() -> None:
        async with _connect(params) as client:
            await _exercise(client)

    anyio.run(main)


@pytest.mark.slow
def test_mcp_over_http(http_server: str) -> None:
    async def main() -> None:
        async with _connect(http_server) as client:
            await _exercise(client)

    anyio.run(main)


def test_http_refuses_a_request_without_the_token(http_server: str) -> None:
    answer = httpx2.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
    assert answer.status_code == 401
    wrong = httpx2.post(http_server, headers={"Authorization": "Bearer nope"}, json={}, timeout=30)
    assert wrong.status_code == 401


def test_memory_search_finds_what_a_run_remembered(project: Path) -> None:
    from agent.mcp.server import ServerOptions, build_server
    from agent.memory.project_memory import open_project_memory
    from agent.settings import load_settings

    with open_project_memory(load_settings(project)) as memory:
        memory.remember("decisions", "people-grain", "stg_people keeps one row per person id")
    server, workspaces = build_server(ServerOptions(project=project))

    async def search(arguments: dict[str, Any]) -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("ae_memory_search", arguments)

    found = anyio.run(search, {"query": "one row per person"})
    assert not found.is_error, found.content
    assert found.structured_content is not None
    assert [m["key"] for m in found.structured_content["memories"]] == ["people-grain"]
    bad_kind = anyio.run(search, {"query": "x", "kind": "secrets"})
    assert bad_kind.is_error and "unknown memory kind" in str(bad_kind.content)
    workspaces.close()


def test_a_long_list_is_paged_with_how_to_ask_for_more() -> None:
    from agent.mcp.caps import page, rows_note

    first = page(["a", "b", "c"], 0, size=2)
    assert first["listed"] == ["a", "b"] and first["total"] == 3
    assert "offset=2" in first["narrowed"]
    assert "narrowed" not in page(["a", "b", "c"], 2, size=2)
    assert rows_note(10, 10, 100) == "narrowed to 10 rows; ask for more with limit (up to 100)"
    assert rows_note(3, 10, 100) is None


def test_allowlist_serves_exactly_the_named_tools(project: Path) -> None:
    from agent.mcp.server import ServerOptions, build_server

    server, workspaces = build_server(ServerOptions(project=project, tools="ae_lineage,ae_show"))

    async def names() -> set[str]:
        async with Client(server) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    assert anyio.run(names) == {"ae_lineage", "ae_show"}
    workspaces.close()


def test_http_without_token_on_a_non_loopback_bind_refuses_to_start(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, *_server_args(project, "--http", f"0.0.0.0:{_free_port()}")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "without a bearer token" in done.stderr and "AE_MCP_TOKEN" in done.stderr


# --- issue 23 item 7: a token always, and calls confined to the server's projects ------------------


def _listening(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert proc.poll() is None, "the HTTP server exited before listening"
        assert time.monotonic() < deadline, "the HTTP server did not listen within 30 s"
        time.sleep(0.2)


def _start_without_token(project: Path, state: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, *_server_args(project, "--http", f"127.0.0.1:{port}")],
        cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        stderr=subprocess.PIPE,
        text=True,
    )
    _listening(port, proc)
    return proc, f"http://127.0.0.1:{port}/mcp"


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


_LIST = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
_MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def test_http_on_loopback_without_a_token_makes_one_shows_it_once_and_requires_it(
    project: Path, tmp_path: Path
) -> None:
    """Before: a loopback server without --token answered anyone on the machine."""
    from agent.mcp.token_store import TOKEN_FILE

    state = tmp_path / "state"
    proc, url = _start_without_token(project, state)
    try:
        kept = state / "ae" / TOKEN_FILE
        token = kept.read_text().strip()
        assert oct(kept.stat().st_mode & 0o777) == "0o600" and len(token) >= 40
        assert httpx2.post(url, json=_LIST, headers=_MCP_HEADERS, timeout=30).status_code == 401
        wrong = {**_MCP_HEADERS, "Authorization": "Bearer nope"}
        assert httpx2.post(url, json=_LIST, headers=wrong, timeout=30).status_code == 401
        right = {**_MCP_HEADERS, "Authorization": f"Bearer {token}"}
        assert httpx2.post(url, json=_LIST, headers=right, timeout=30).status_code != 401
    finally:
        first = _stop(proc)
    assert first.count(token) == 1 and str(kept) in first  # printed once, with where it is kept
    proc, url = _start_without_token(project, state)  # a restart keeps the token and does not show it
    try:
        right = {**_MCP_HEADERS, "Authorization": f"Bearer {token}"}
        assert httpx2.post(url, json=_LIST, headers=right, timeout=30).status_code != 401
        assert httpx2.post(url, json=_LIST, headers=_MCP_HEADERS, timeout=30).status_code == 401
    finally:
        second = _stop(proc)
    assert token not in second and str(kept) in second


def test_a_token_file_others_could_know_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.mcp.token_store import server_token, token_path
    from tools.errors import ConfigurationError

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    shown: list[str] = []
    token = server_token(shown.append)
    assert token in shown[0] and server_token(shown.append) == token and token not in shown[1]
    token_path().chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable or writable by others"):
        server_token(shown.append)
    token_path().unlink()
    (tmp_path / "planted").write_text("known-to-someone-else\n")
    token_path().symlink_to(tmp_path / "planted")
    with pytest.raises(ConfigurationError, match="not a plain file"):
        server_token(shown.append)


def _call(server: Any, name: str, arguments: dict[str, Any]) -> CallToolResult:
    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(name, arguments)

    return anyio.run(call)


def test_a_call_may_name_only_the_servers_project_or_one_under_its_root(
    project: Path, tmp_path: Path
) -> None:
    """Before: ``project`` could name any folder with a dbt_project.yml, whose dbt code the server
    then ran as its own user."""
    from agent.mcp.server import ServerOptions, build_server

    elsewhere = write_tiny_project(tmp_path / "someone_elses")
    server, workspaces = build_server(ServerOptions(project=project))
    try:
        for named in (str(elsewhere), "../someone_elses", str(tmp_path)):
            refused = _call(server, "ae_list", {"project": named})
            assert refused.is_error and "is not served here" in str(refused.content), named
            assert "--projects-root" in str(refused.content)
        assert not workspaces._engines  # refused before any dbt started
        allowed = _call(server, "ae_memory_search", {"query": "x", "project": str(project)})
        assert not allowed.is_error, allowed.content
    finally:
        workspaces.close()

    root = tmp_path / "mine"
    mine = write_tiny_project(root / "shop")
    (root / "link").symlink_to(elsewhere)  # a link under the root to a folder outside it
    server, workspaces = build_server(ServerOptions(project=project, projects_root=root))
    try:
        assert not _call(server, "ae_memory_search", {"query": "x", "project": str(mine)}).is_error
        assert not _call(server, "ae_memory_search", {"query": "x", "project": "shop"}).is_error
        for named in ("link", str(root / "link"), str(elsewhere)):
            refused = _call(server, "ae_memory_search", {"query": "x", "project": named})
            assert refused.is_error and "is not served here" in str(refused.content), named
        if os.geteuid() == 0:  # only root can give a folder to another user here
            theirs = write_tiny_project(root / "theirs")
            os.chown(theirs / "dbt_project.yml", 4242, -1)
            refused = _call(server, "ae_memory_search", {"query": "x", "project": "theirs"})
            assert refused.is_error and "belongs to another user (uid 4242)" in str(refused.content)
    finally:
        workspaces.close()


# --- the read tools are the registry's, generated from its specs ------------------------------------


def _listed(server: Any) -> dict[str, Any]:
    async def listed() -> dict[str, Any]:
        async with Client(server) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    return anyio.run(listed)


def test_every_served_tool_reads_as_the_registry_tool_it_runs(project: Path) -> None:
    """Before: each MCP tool re-declared its registry tool's arguments by hand, without their text."""
    from agent.mcp.server import ServerOptions, build_server
    from agent.mcp.tools import SERVED
    from tools.registry import builtin_registry

    server, workspaces = build_server(ServerOptions(project=project))
    listed = _listed(server)
    workspaces.close()
    for entry in SERVED:
        spec, tool = builtin_registry().get(entry.tool), listed[entry.name]
        assert tool.description is not None and tool.description.startswith(spec.description)
        schema = tool.input_schema["properties"]
        for argument, described in spec.input_schema["properties"].items():
            assert schema[argument]["description"] == described["description"], (entry.name, argument)
        assert set(schema) - set(spec.input_schema["properties"]) <= {"project", "target", "offset"}
        assert set(tool.input_schema.get("required", [])) == set(spec.input_schema.get("required", []))
    assert listed["ae_show"].input_schema["properties"]["limit"]["maximum"] == 100
    assert listed["ae_sql"].input_schema["properties"]["limit"]["default"] == 10


def test_a_new_registry_tool_is_served_by_one_line(project: Path) -> None:
    from mcp.server import MCPServer

    from agent.mcp.tools import Served, read_tools
    from agent.mcp.workspaces import Workspaces
    from tools.prompt_text import ToolText
    from tools.registry import ToolRegistry

    texts = {
        "row_count": ToolText(
            "Count the rows of a warehouse relation.",
            {"relation": '"schema.table" to count.', "at_most": "stop counting here."},
        )
    }
    registry = ToolRegistry(texts=texts.__getitem__)

    @registry.tool(read_only=True, family="warehouse")
    def row_count(ctx: ToolContext, relation: str, at_most: int = 1000) -> dict[str, Any]:
        return {"relation": relation, "rows": min(at_most, 3), "target": ctx.target}

    workspaces = Workspaces(project)
    [tool] = read_tools(workspaces, (Served("ae_row_count", "row_count"),), registry)
    server: MCPServer = MCPServer("probe")
    server.add_tool(tool.fn, name=tool.name, description=tool.description, annotations=tool.annotations)
    listed = _listed(server)["ae_row_count"]
    assert listed.description == "Count the rows of a warehouse relation."
    assert listed.annotations is not None and listed.annotations.read_only_hint
    properties = listed.input_schema["properties"]
    assert properties["relation"]["description"] == '"schema.table" to count.'
    assert properties["at_most"]["default"] == 1000 and "project" in properties
    called = _call(server, "ae_row_count", {"relation": "raw.people", "at_most": 2})
    assert not called.is_error, called.content
    assert called.structured_content == {"relation": "raw.people", "rows": 2, "target": "dev"}
    refused = _call(server, "ae_row_count", {"relation": "raw.people", "at_most": "many"})
    assert refused.is_error  # the registry's types reach the MCP schema
    outside = _call(server, "ae_row_count", {"relation": "raw.people", "project": "/"})
    assert outside.is_error and "is not served here" in str(outside.content)
    workspaces.close()


def test_a_served_tool_may_only_read(project: Path) -> None:
    """The registry's writing tools write a run's changeset, which an MCP call has none of."""
    from agent.mcp.tools import Served, read_tools
    from agent.mcp.workspaces import Workspaces

    with pytest.raises(TypeError, match="write_file writes; MCP changes a project only through ae_run"):
        read_tools(Workspaces(project), (Served("ae_write", "write_file"),))
    with pytest.raises(TypeError, match="make_model_incremental writes"):
        read_tools(Workspaces(project), (Served("ae_incremental", "make_model_incremental"),))
    with pytest.raises(TypeError, match="no limit argument"):
        read_tools(Workspaces(project), (Served("ae_lineage", "model_lineage", rows=10),))


def test_lineage_follows_a_column_and_list_excludes_in_process(project: Path) -> None:
    """ae_lineage takes a column (column-level lineage up and down, over the compiled SQL); ae_list's
    exclude is the registry's dbt_ls argument; ae_docs only reads."""
    from agent.mcp.server import ServerOptions, build_server

    server, workspaces = build_server(ServerOptions(project=project, tools="ae_lineage,ae_list,ae_docs"))
    try:
        listed = _listed(server)
        assert "column" in listed["ae_lineage"].input_schema["properties"]
        docs = listed["ae_docs"].annotations
        assert docs is not None and docs.read_only_hint and not docs.destructive_hint
        name = _call(server, "ae_lineage", {"node": "stg_people", "column": "name", "downstream": 2})
        assert not name.is_error, name.content
        answer = name.structured_content
        assert answer is not None
        assert answer["origins"] == ["raw.people.name"]
        assert answer["downstream"] == [{"node": "adults", "column": "name", "distance": 1}]
        age = _call(server, "ae_lineage", {"node": "adults", "column": "age"})
        assert age.is_error and "person_id, name" in str(age.content)  # adults only filters on age
        read_by = _call(server, "ae_lineage", {"node": "stg_people", "column": "age"})
        assert read_by.structured_content is not None
        assert read_by.structured_content["readers"] == ["adults"]
        models = _call(
            server, "ae_list", {"select": "stg_people+", "exclude": "adults", "resource_type": "model"}
        )
        assert models.structured_content is not None
        assert [n.rsplit(".", 1)[-1] for n in models.structured_content["listed"]] == ["stg_people"]
    finally:
        workspaces.close()
