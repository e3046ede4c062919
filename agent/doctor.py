"""`ae doctor`: is this machine and project ready? One OK/WARN/FAIL line per check, with what to do.

It looks and never touches: no store, no warehouse file, no dbt ``target/`` or ``logs/`` in the
project (its dbt calls write to a temporary folder); a missing project or store is reported as
such. (The dbt engine still keeps its own log in ``.ae/logs/``: DbtEngine decides that folder.) Each
cause is reported once, by the check it belongs to; a check that depends on a failed one is
skipped, not failed with a guess at another cause. A warning fails nothing: it says what will not
work until the person acts (declared sources with no warehouse file to hold them).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from agent.settings import Settings
from tools.audit.history import history_space
from tools.audit.schema_audit import SCHEMA_AUDITS
from tools.engine import DbtCall, DbtEngine
from tools.errors import AeError, TransientError
from tools.logs import redact
from tools.manifest import Manifest
from tools.profiles import ProfileTarget, find_profiles, read_target
from tools.store_urls import is_postgres, psycopg_url, safe_url
from tools.warehouse import readonly_connection

DOCTOR_TIMEOUT_S = 120.0
NO_PROFILE = "the profile is not usable"
NO_PROJECT = "no dbt project to check"
#: the variable dbt reads its log folder from (its --log-path)
DBT_LOG_PATH = "DBT_LOG_PATH"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: not run because an earlier check failed or it does not apply yet; not a failure of its own
    skipped: bool = False
    #: passed, but something will not work until the person acts (said in ``detail``)
    warning: bool = False

    def render(self) -> str:
        status = "SKIP" if self.skipped else "WARN" if self.warning else "OK  " if self.ok else "FAIL"
        return f"{status} {self.name:<12} {redact(self.detail)}"

    @classmethod
    def skip(cls, name: str, why: str) -> Check:
        return cls(name, True, f"not checked: {why}", skipped=True)


def check_dbt() -> Check:
    try:
        core = metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        return Check("dbt", False, "dbt-core is not installed; run `make setup`")
    if not core.startswith("1.11."):
        return Check("dbt", False, f"dbt-core {core} installed; ae needs >=1.11,<1.12 (run `make setup`)")
    return Check("dbt", True, f"dbt-core {core}")


def check_adapter(target: ProfileTarget | None) -> Check:
    """The dbt adapter the target's ``type`` names, and whether its package is installed: dbt-core
    alone builds on no warehouse, and which adapter is needed is known only from the profile."""
    if target is None:
        return Check.skip("adapter", NO_PROFILE)
    package = f"dbt-{target.type}"  # how dbt adapters are published (dbt-duckdb, dbt-postgres ...)
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return Check(
            "adapter",
            False,
            f"{target.type}: {package} is not installed, and target {target.target!r} needs it; "
            f"install it beside dbt-core (`uv pip install '{package}>=1.11,<1.12'`)",
        )
    return Check("adapter", True, f"{target.type}: {package} {version}")


def check_project(settings: Settings) -> Check:
    """Is there a dbt project where ae was pointed?"""
    root = settings.project_dir
    if not root.is_dir():
        return Check(
            "project", False, f"{root} does not exist; pass --project DIR, the folder of dbt_project.yml"
        )
    if not (root / "dbt_project.yml").is_file():
        return Check(
            "project",
            False,
            f"{root} has no dbt_project.yml; pass --project DIR, the folder of dbt_project.yml",
        )
    return Check("project", True, f"{root / 'dbt_project.yml'}")


def check_profile(settings: Settings) -> tuple[Check, ProfileTarget | None]:
    """Which profiles.yml, profile and target dbt will use (found as dbt finds them)."""
    try:
        target = read_target(
            settings.project_dir, settings.target, settings.profiles_dir, profile=settings.profile
        )
    except AeError as exc:
        return Check("profile", False, str(exc)), None
    where = f"{target.type} target {target.target!r} of profile {target.profile!r}"
    found = find_profiles(settings.project_dir, settings.profiles_dir)
    return Check("profile", True, f"{where}, from {found.describe()}"), target


def check_warehouse_lock(target: ProfileTarget | None) -> Check:
    if target is None:
        return Check.skip("warehouse", NO_PROFILE)
    if target.path is None:
        return Check("warehouse", True, f"{target.type} target {target.target} (no local file to check)")
    if not target.path.exists():
        return Check(
            "warehouse", True, f"{target.path} does not exist yet; dbt creates it on the first seed or run"
        )
    try:
        with readonly_connection(target.path):
            pass
    except AeError as exc:
        return Check("warehouse", False, str(exc))
    return Check("warehouse", True, f"{target.path} is not locked")


def check_protection(settings: Settings, target: ProfileTarget | None) -> Check:
    """Where the target writes, and whether building there needs approval (and why)."""
    if target is None:
        return Check.skip("protection", NO_PROFILE)
    protection = settings.protection(target.target)
    verdict = "PROTECTED: needs approval" if protection.protected else "not protected"
    return Check("protection", True, f"{verdict}; {protection.reason}")


def check_audit(settings: Settings, target: ProfileTarget | None) -> Check:
    """Where a run builds before it publishes, and the space the kept previous versions take."""
    if target is None:
        return Check.skip("audit", NO_PROFILE)
    space = history_space(settings.project_dir).describe()
    keep = f"(the latest {settings.warehouse_history_runs} runs'; setting warehouse_history_runs)"
    if not settings.audit_builds:
        return Check(
            "audit", True, f"off (audit_builds: false): runs build straight in the warehouse; {space}"
        )
    if target.type in SCHEMA_AUDITS:
        return Check(
            "audit",
            True,
            f"runs build and test in schemas {target.schema_name}__ae_<run>, then publish; replaced "
            f"relations are kept in schema ae_history {keep}",
        )
    if target.path is None:
        return Check(
            "audit", True, f"not on {target.type}: runs build straight in the warehouse, as dbt does; {space}"
        )
    return Check(
        "audit", True, f"runs build and test in a copy of {target.path.name}, then publish; {space} {keep}"
    )


def first_error(message: str) -> str:
    """dbt's error as one line: its kind and the first lines that say what is wrong."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "no message"
    return lines[0] + (": " + "; ".join(lines[1:3]) if len(lines) > 1 else "")


@contextmanager
def looking_engine(settings: Settings) -> Iterator[DbtEngine]:
    """The project's dbt engine with dbt's target and log folders in a temporary folder: doctor only
    looks, so its parse leaves no ``target/`` or ``logs/`` in the project. dbt's child reads the log
    folder from DBT_LOG_PATH, which the engine passes on as it starts it (tools/engine/child_env.py)."""
    with tempfile.TemporaryDirectory(prefix="ae-doctor-") as scratch:
        previous = os.environ.get(DBT_LOG_PATH)
        os.environ[DBT_LOG_PATH] = str(Path(scratch) / "logs")
        try:
            engine = DbtEngine(
                settings.project_dir,
                target=settings.target,
                profile=settings.profile,
                profiles_dir=settings.profiles_dir,
                target_path=str(Path(scratch) / "target"),
                timeout_s=settings.engine_timeout_s,
            )
        finally:
            if previous is None:
                os.environ.pop(DBT_LOG_PATH, None)
            else:
                os.environ[DBT_LOG_PATH] = previous
        with engine:
            yield engine


def check_dbt_project(
    settings: Settings, target: ProfileTarget | None, adapter: Check, warehouse: Check
) -> list[Check]:
    """``dbt parse`` (does the project load?), the sources it declares against a warehouse file that
    is not there, and ``dbt debug`` (does the warehouse answer?).

    ``warehouse`` is the lock check's result: a locked file fails there, once, and dbt debug is not
    asked about it (it would fail too, and seem to blame the profile). A missing adapter package
    fails the adapter check, once: dbt cannot load the profile without it."""
    if target is None:
        return [Check.skip(name, NO_PROFILE) for name in ("parse", "sources", "connection")]
    if not adapter.ok:
        return [
            Check.skip(name, "the adapter check failed (above)")
            for name in ("parse", "sources", "connection")
        ]
    try:
        with looking_engine(settings) as engine:
            parse = _parse_check(engine)
            sources = (
                _sources_check(engine, target)
                if parse.ok
                else Check.skip("sources", "the parse failed (above)")
            )
            if target.path is not None and not target.path.exists():
                # dbt debug would create an empty DuckDB file there and report success
                connection = Check.skip("connection", f"{target.path} does not exist yet")
            elif not warehouse.ok:
                connection = Check.skip("connection", "the warehouse check failed (above)")
            else:
                connection = _debug_check(engine, target)
    except AeError as exc:
        return [
            Check("parse", False, str(exc)),
            Check.skip("sources", "the dbt engine did not start"),
            Check.skip("connection", "the dbt engine did not start"),
        ]
    return [parse, sources, connection]


def _sources_check(engine: DbtEngine, target: ProfileTarget) -> Check:
    """Declared sources live in the warehouse: with no warehouse file they cannot exist yet, so
    anything built on them fails until the data is loaded (a seed or a run does not make them)."""
    sources = Manifest.for_engine(engine, missing_ok=True).root("source")
    if not sources:
        return Check("sources", True, "no sources declared")
    named = sorted(source.label for source in sources.values())
    listed = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    if target.path is None or target.path.exists():
        return Check("sources", True, f"{len(named)} declared: {listed}")
    return Check(
        "sources",
        True,
        f"{len(named)} declared ({listed}) but {target.path} does not exist, so none of them can be "
        "read yet: load the data into that file first (copy or create the DuckDB file the sources "
        "live in), or point the target's `path` in profiles.yml at it",
        warning=True,
    )


def _parse_check(engine: DbtEngine) -> Check:
    try:
        result = engine.invoke(DbtCall(command="parse"), timeout_s=DOCTOR_TIMEOUT_S)
    except AeError as exc:  # the engine's message starts with "dbt parse:"
        return Check("parse", False, first_error(exc.message))
    if result.error is not None:
        return Check("parse", False, f"dbt parse: {first_error(result.error.message)}")
    return Check("parse", True, f"dbt parse passed in {result.elapsed_s:.1f}s")


def _debug_check(engine: DbtEngine, target: ProfileTarget) -> Check:
    try:
        result = engine.invoke(DbtCall(command="debug"), timeout_s=DOCTOR_TIMEOUT_S)
    except TransientError as exc:  # busy, not misconfigured: the profile is not to blame
        return Check("connection", False, str(exc))
    except AeError as exc:
        return Check(
            "connection", False, f"{first_error(exc.message)}; fix the target in {target.profiles_file}"
        )
    if not result.success:
        return Check("connection", False, "dbt debug failed; run `dbt debug` in the project for details")
    return Check("connection", True, f"dbt debug passed for target {target.target}")


def check_store(settings: Settings) -> Check:
    url = settings.store_url
    if is_postgres(url):
        import psycopg

        try:
            with psycopg.connect(psycopg_url(url), connect_timeout=5) as conn:
                conn.execute("select 1")
        except psycopg.Error as exc:
            return Check("store", False, f"cannot reach {safe_url(url)}: {exc}; check AE_STORE_URL")
        return Check("store", True, f"postgres store {safe_url(url)}")
    path = settings.state_dir / "ae.sqlite"
    if not path.exists():
        return Check("store", True, f"no store yet at {path}; the first `ae run` on the project creates it")
    try:  # read-only: a check must not create or change the file
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            conn.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return Check("store", False, f"cannot read {path}: {exc}; move it aside and ae starts a new one")
    return Check("store", True, f"sqlite store {path}")


def check_llm(settings: Settings) -> Check:
    if not settings.api_key:
        return Check(
            "llm", True, "no ANTHROPIC_API_KEY: /commands work offline, free-form requests need a key"
        )
    from agent.llm.anthropic_client import AnthropicClient
    from agent.llm.base import LLMRequest

    client = AnthropicClient(
        api_key=settings.api_key,
        model=settings.model,
        base_url=settings.anthropic_base_url,
        timeout_s=min(settings.llm_timeout_s, 30.0),
        max_retries=0,
    )
    started = time.perf_counter()
    try:
        client.complete(
            LLMRequest(
                system="Reply with OK.",
                messages=[{"role": "user", "content": "ping"}],
                tools=[],
                max_tokens=1,
                model=settings.model,
                cache_prefix=False,
            )
        )
    except AeError as exc:
        return Check("llm", False, f"{settings.model} not reachable: {exc}")
    return Check("llm", True, f"{settings.model} answered in {time.perf_counter() - started:.2f}s")


def check_runs(settings: Settings) -> Check:
    """Runs a crash or kill left behind (agent/runs.py): each can be resumed or undone."""
    from agent.runs import describe_interrupted, interrupted_runs

    left = interrupted_runs(settings.state_dir)
    if not left:
        return Check("runs", True, "no interrupted runs")
    return Check("runs", False, "; ".join(describe_interrupted(r, settings.project_dir) for r in left))


def run_doctor(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Print one line per check; 0 when none fails (warnings included), 1 otherwise."""
    out(f"ae doctor — project {settings.project_dir}")
    failed = warned = 0

    def report(check: Check) -> None:
        nonlocal failed, warned
        failed += not check.ok
        warned += check.warning
        out(check.render())

    report(check_dbt())
    project = check_project(settings)
    report(project)
    if project.ok:
        profile, target = check_profile(settings)
        report(profile)
        adapter = check_adapter(target)
        report(adapter)
        report(check_protection(settings, target))
        report(check_audit(settings, target))
        warehouse = check_warehouse_lock(target)
        report(warehouse)
        for check in check_dbt_project(settings, target, adapter, warehouse):
            report(check)
        report(check_store(settings))
        report(check_runs(settings))
    else:
        for name in (
            "profile",
            "adapter",
            "protection",
            "audit",
            "warehouse",
            "parse",
            "sources",
            "connection",
            "store",
            "runs",
        ):
            report(Check.skip(name, NO_PROJECT))
    report(check_llm(settings))
    if failed:
        out(f"{failed} check(s) failed" + (f", {warned} warning(s)" if warned else ""))
    else:
        out(f"no check failed; {warned} warning(s) (above)" if warned else "all checks passed")
    return 1 if failed else 0
