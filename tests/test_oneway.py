"""Issue 22 item 1, "one way in": every caller carries its requests through ``Session.handle``, which
answers the graph's questions through the caller's callback in the same pass (a refusal takes one
graph pass, not a second run), sends progress up LangGraph's stream, and asks for approval of a
protected target only for what writes there. dbt and DuckDB run for real on a tiny project."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.chat import chat
from agent.cli import main
from agent.commands.catalog import COMMANDS
from agent.commands.planner import CommandPlanner
from agent.exit_codes import ExitCode
from agent.requests import READING_COMMANDS, command_builds
from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import PlanSpec
from graph.progress import ProgressEvent
from graph.read_only import is_read_only
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import GOOD_YML, NEW_MODEL, fingerprint
from tools.warehouse_undo import list_relation_names

#: a model dbt would run a hook for: Approve asks about it as code
HOOKED_MODEL = {
    "models/stg_people_names.sql": "{{ config(post_hook='select 1') }}\n"
    "select id as person_id, name from {{ source('raw', 'people') }}\n",
    "models/stg_people_names.yml": GOOD_YML,
}
#: the runner's own lines, written straight to the caller's emit (not a phase's)
RUNNER_PHASES = {"run", "runs", "lock"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


@pytest.fixture
def graph_passes(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Every pass of a compiled graph (its ``stream``), with what it yielded."""
    from langgraph.pregel import Pregel

    passes: list[list[Any]] = []
    original = Pregel.stream

    def counted(self: Pregel, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yielded: list[Any] = []
        passes.append(yielded)
        for item in original(self, *args, **kwargs):
            yielded.append(item)
            yield item

    monkeypatch.setattr(Pregel, "stream", counted)
    return passes


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The requests that went through Session.handle."""
    requests: list[str | None] = []
    original = Session.handle

    def spy(self: Session, request: str | None, **kwargs: Any) -> Any:
        requests.append(request)
        return original(self, request, **kwargs)

    monkeypatch.setattr(Session, "handle", spy)
    return requests


def plans_with(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
    """Free text planned by a scripted planner wherever a caller chooses the planner."""
    monkeypatch.setattr(
        "agent.planners.choose_planner", lambda *_a, **_k: (ScriptedPlanner([writes(files)]), None)
    )


def streamed_events(passes: list[list[Any]]) -> list[ProgressEvent]:
    return [item for items in passes for item in items if isinstance(item, ProgressEvent)]


def phase_events(heard: list[ProgressEvent]) -> list[ProgressEvent]:
    return [event for event in heard if event.phase not in RUNNER_PHASES]


# --- a refusal is recorded in the same pass, by every caller -------------------------------------------


def test_ae_run_refuses_in_one_pass_and_prints_the_streamed_progress(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    graph_passes: list[list[Any]],
    handled: list[str | None],
) -> None:
    plans_with(monkeypatch, NEW_MODEL)
    before = fingerprint(project)
    argv = ["run", "add stg_people_names", "--project", str(project), "--target", "prod"]
    assert main(argv) == ExitCode.REFUSED
    err = capfd.readouterr().err
    assert handled == ["add stg_people_names"] and len(graph_passes) == 1
    assert "refused; re-run with --yes" in err  # the flag that would have said yes
    assert fingerprint(project) == before
    lines = err.splitlines()
    streamed = streamed_events(graph_passes)
    assert streamed and all(event.line() in lines for event in streamed)
    # --json: the same events, one JSON line each
    assert main([*argv, "--json"]) == ExitCode.REFUSED
    captured = capfd.readouterr()
    assert json.loads(captured.out)["status"] == "refused"
    events = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    progress = [e for e in events if e.get("event") == "progress" and e["phase"] not in RUNNER_PHASES]
    # ae run's own two lines answer the question (what was asked, the flag that says yes); every
    # other line is a phase's, in the order the stream brought it
    answered = [e for e in progress if e["kind"] == "warning" and e["phase"] == "approve"]
    assert len(answered) == 2 and answered[1]["message"].startswith("refused; re-run with --yes")
    phases = [e["message"] for e in progress if e not in answered]
    assert phases == [e.message for e in streamed_events(graph_passes[1:])]
    assert len(graph_passes) == 2


def test_chat_asks_the_person_and_a_no_is_recorded_in_one_pass(
    project: Path, monkeypatch: pytest.MonkeyPatch, graph_passes: list[list[Any]], handled: list[str | None]
) -> None:
    plans_with(monkeypatch, NEW_MODEL)
    answers = iter(["add stg_people_names", "n"])
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None  # the person leaves

    out, err = io.StringIO(), io.StringIO()
    chat(load_settings(project), target="prod", conversation_id=None, read=read, out=out, err=err)
    assert "status: refused" in out.getvalue()
    assert handled == ["add stg_people_names"] and len(graph_passes) == 1
    assert [p for p in prompts if p != "ae> "] == [prompts[1]] and "prod" in prompts[1]
    printed = err.getvalue().splitlines()
    assert all(event.line() in printed for event in streamed_events(graph_passes))


def test_the_worker_refuses_what_was_not_approved_at_enqueue_in_one_pass(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    graph_passes: list[list[Any]],
    handled: list[str | None],
) -> None:
    from agent.queue import tasks
    from agent.queue.batch import TaskSpec

    plans_with(monkeypatch, NEW_MODEL)
    try:
        result = tasks._run(
            TaskSpec(request="add stg_people_names", project=str(project), target="prod"), "t.1"
        )
    finally:
        tasks.ENGINES.close()
    assert result["status"] == "refused", result["reason"]
    assert handled == ["add stg_people_names"] and len(graph_passes) == 1
    log = capfd.readouterr().err.splitlines()
    assert all(f"ae worker: t.1 {event.line()}" in log for event in streamed_events(graph_passes))
    # a building /command on a protected target is refused before planning: no graph pass at all
    try:
        early = tasks._run(
            TaskSpec(request="/dbt-run --select stg_people", project=str(project), target="prod"), "t.2"
        )
    finally:
        tasks.ENGINES.close()
    assert early["status"] == "refused" and "--yes" in early["reason"]
    assert len(graph_passes) == 1


def test_mcp_refuses_in_one_pass_and_reports_the_streamed_progress(
    project: Path, monkeypatch: pytest.MonkeyPatch, graph_passes: list[list[Any]], handled: list[str | None]
) -> None:
    from agent.mcp.runs import RunPolicy, run_request
    from agent.mcp.workspaces import Workspaces

    plans_with(monkeypatch, NEW_MODEL)
    heard: list[ProgressEvent] = []
    workspaces = Workspaces(project)
    try:
        answer = run_request(
            workspaces,
            RunPolicy(allow_protected=True),
            "add stg_people_names",
            project="",
            target="prod",
            approve=False,
            emit=heard.append,
        )
    finally:
        workspaces.close()
    assert answer["status"] == "refused" and answer["target"] == "prod"
    assert handled == ["add stg_people_names"] and len(graph_passes) == 1
    assert phase_events(heard) == streamed_events(graph_passes)


def test_the_benchmark_answers_from_the_task_in_one_pass(
    project: Path, tmp_path: Path, graph_passes: list[list[Any]], handled: list[str | None]
) -> None:
    from evals.execute import Job, run_agent
    from evals.task import Task

    task = Task.model_validate(
        {
            "id": "prod_unapproved",
            "category": "adversarial",
            "request": "/dbt-run --select stg_people --target prod",
            "reference": {"operations": [{"command": "run", "select": ["stg_people"]}]},
            "checks": {"expect_status": ["refused"]},
        }
    )
    job = Job(task=task, agent="oracle", repeat=0, work_dir=tmp_path / "eval")
    refused = run_agent(job, project, agent="oracle", fault_rate=0.0)
    assert refused.status == "refused" and refused.has_report  # planned, then refused at Execute
    assert len(graph_passes) == 1
    nothing = run_agent(job, project, agent="noop", fault_rate=0.0)
    assert nothing.status == "success"  # a plan that builds nothing needs no approval
    assert handled == [task.request, task.request] and len(graph_passes) == 2
    assert "stg_people" not in {
        name.split(".")[-1]
        for name in list_relation_names(project / "tiny.duckdb")
        if name.split(".")[1] == "prod"
    }


# --- questions go to the caller's callback ---------------------------------------------------------------


def test_questions_are_answered_by_the_callers_callback_in_the_same_pass(
    project: Path, graph_passes: list[list[Any]]
) -> None:
    asked: list[dict[str, Any]] = []

    def answering(yes: bool) -> Callable[[dict[str, Any]], bool]:
        def ask(question: dict[str, Any]) -> bool:
            asked.append(question)
            return yes

        return ask

    before = fingerprint(project)
    with Session(load_settings(project), target="prod") as session:
        refused = session.handle(
            "hooked", planner=ScriptedPlanner([writes(HOOKED_MODEL)]), ask=answering(False)
        )
        assert refused.status == "refused" and [q["kind"] for q in asked] == ["code"]
        assert fingerprint(project) == before and len(graph_passes) == 1
        report = refused.report()
        assert report is not None and report.status == "refused"  # in memory, as written
        assert (
            report.model_dump()
            == type(report)
            .model_validate_json(
                (refused.report_dir / "report.json").read_text()  # type: ignore[operator]
            )
            .model_dump()
        )
        asked.clear()
        built = session.handle("hooked", planner=ScriptedPlanner([writes(HOOKED_MODEL)]), ask=answering(True))
    assert built.status == "success", built.reason
    # the code first (before Validate runs it), then where it lands (prod): each asked once
    assert [q["kind"] for q in asked] == ["code", "target"]
    assert len(graph_passes) == 2


# --- protection asks only for writes -------------------------------------------------------------------


def test_a_read_only_command_on_prod_needs_no_yes_and_a_building_one_is_refused_before_dbt_starts(
    project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from tools.engine import DbtEngine

    prepared: list[Path] = []
    original = DbtEngine.prepare

    def counted(self: DbtEngine) -> None:
        prepared.append(self.project_dir)
        original(self)

    monkeypatch.setattr(DbtEngine, "prepare", counted)
    base = ["--project", str(project), "--target", "prod"]
    assert main(["run", "/dbt-compile --select stg_people", *base]) == ExitCode.OK
    assert main(["run", "/model-lineage --model stg_people", *base]) == ExitCode.OK
    assert len(prepared) == 2
    capfd.readouterr()
    assert main(["run", "/dbt-run --select stg_people", *base, "--json"]) == ExitCode.REFUSED
    document = json.loads(capfd.readouterr().out)
    assert "nothing was changed" in document["error"]["message"] and "--yes" in document["error"]["hint"]
    assert len(prepared) == 2  # refused before dbt was started
    assert not any(name.startswith("tiny.prod.") for name in list_relation_names(project / "tiny.duckdb"))


def test_the_reading_commands_are_exactly_those_whose_plans_read(project: Path) -> None:
    """agent/requests.py decides before planning what graph/read_only.py decides from the plan."""
    requests = {
        "dbt-compile": "/dbt-compile --select stg_people",
        "dbt-docs": "/dbt-docs --generate",
        "dbt-debug": "/dbt-debug",
        "model-lineage": "/model-lineage --model stg_people",
        "dbt-test": "/dbt-test --select stg_people",
        "dbt-run": "/dbt-run --select stg_people",
        "dbt-seed": "/dbt-seed --file seeds/s.csv",
    }
    (project / "seeds").mkdir()
    (project / "seeds" / "s.csv").write_text("a\n1\n")
    assert set(COMMANDS) >= READING_COMMANDS
    assert set(requests) >= READING_COMMANDS
    planned = [*requests.values(), "/dbt-test --select stg_people --store-failures"]
    with Session(load_settings(project), interrupt_after=["plan"]) as session:
        for request in planned:
            outcome = session.run(request, planner=CommandPlanner())
            assert outcome.status == "paused", (request, outcome.reason)
            plan = PlanSpec.model_validate(outcome.state["plan"])
            assert is_read_only(plan) is not command_builds(request), request
    assert not command_builds("add a model") and not command_builds("/dbt-run --help")


def test_ctrl_c_at_a_chat_question_exits_130_with_the_run_interrupted_and_resumable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.runs import recent_runs

    plans_with(monkeypatch, NEW_MODEL)
    before = fingerprint(project)
    lines = iter(["add stg_people_names"])

    def read(prompt: str) -> str:
        if prompt == "ae> ":
            return next(lines)
        raise KeyboardInterrupt  # the person presses Ctrl-C at the question

    settings = load_settings(project)
    out = io.StringIO()
    code = chat(settings, target="prod", conversation_id=None, read=read, out=out, err=io.StringIO())
    assert code == ExitCode.INTERRUPTED
    [record] = recent_runs(settings.state_dir, 5)
    assert record.status == "interrupted"
    # it stopped at Execute's question, its change applied: resumed with a no, it is undone
    with Session(settings, target="prod") as session:
        refused = session.resume(record.run_id, planner=ScriptedPlanner([]), approval=False)
    assert refused.status == "refused" and fingerprint(project) == before
