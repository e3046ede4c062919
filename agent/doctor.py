"""`ae doctor`: is this machine and project ready? One OK/FAIL line per check, with what to do.

It looks and never touches: nothing is created (no .ae/, no store, no warehouse file), a missing
project or store is reported as such. Each cause is reported once, by the check it belongs to; a
check that depends on a failed one is skipped, not failed with a guess at another cause.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from importlib import metadata

from agent.settings import Settings
from tools.engine import DbtCall, DbtEngine
from tools.errors import AeError, TransientError
from tools.logs import redact
from tools.profiles import ProfileTarget, find_profiles, read_target
from tools.store_urls import is_postgres, psycopg_url, safe_url
from tools.warehouse import readonly_connection

DOCTOR_TIMEOUT_S = 120.0
NO_PROFILE = "the profile is not usable"
NO_PROJECT = "no dbt project to check"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: not run because an earlier check failed or it does not apply yet; not a failure of its own
    skipped: bool = False

    def render(self) -> str:
        status = "SKIP" if self.skipped else "OK  " if self.ok else "FAIL"
        return f"{status} {self.name:<12} {redact(self.detail)}"

    @classmethod
    def skip(cls, name: str, why: str) -> Check:
        return cls(name, True, f"not checked: {why}", skipped=True)


def check_dbt() -> Check:
    try:
        core = metadata.version("dbt-core")
        duck = metadata.version("dbt-duckdb")
    except metadata.PackageNotFoundError as exc:
        return Check("dbt", False, f"{exc.name} is not installed; run `make setup`")
    if not core.startswith("1.11."):
        return Check("dbt", False, f"dbt-core {core} installed; ae needs >=1.11,<1.12 (run `make setup`)")
    return Check("dbt", True, f"dbt-core {core}, dbt-duckdb {duck}")


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


def first_error(message: str) -> str:
    """dbt's error as one line: its kind and the first lines that say what is wrong."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "no message"
    return lines[0] + (": " + "; ".join(lines[1:3]) if len(lines) > 1 else "")


def check_dbt_project(settings: Settings, target: ProfileTarget | None, warehouse: Check) -> list[Check]:
    """``dbt parse`` (does the project load?) and ``dbt debug`` (does the warehouse answer?).

    ``warehouse`` is the lock check's result: a locked file fails there, once, and dbt debug is not
    asked about it (it would fail too, and seem to blame the profile)."""
    if target is None:
        return [Check.skip("parse", NO_PROFILE), Check.skip("connection", NO_PROFILE)]
    try:
        with settings.open_engine() as engine:
            parse = _parse_check(engine)
            if target.path is not None and not target.path.exists():
                # dbt debug would create an empty DuckDB file there and report success
                connection = Check.skip("connection", f"{target.path} does not exist yet")
            elif not warehouse.ok:
                connection = Check.skip("connection", "the warehouse check failed (above)")
            else:
                connection = _debug_check(engine, target)
    except AeError as exc:
        return [Check("parse", False, str(exc)), Check.skip("connection", "the dbt engine did not start")]
    return [parse, connection]


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
    """Print one line per check; 0 when all pass, 1 otherwise."""
    out(f"ae doctor — project {settings.project_dir}")
    failed = 0

    def report(check: Check) -> None:
        nonlocal failed
        failed += not check.ok
        out(check.render())

    report(check_dbt())
    project = check_project(settings)
    report(project)
    if project.ok:
        profile, target = check_profile(settings)
        report(profile)
        report(check_protection(settings, target))
        warehouse = check_warehouse_lock(target)
        report(warehouse)
        for check in check_dbt_project(settings, target, warehouse):
            report(check)
        report(check_store(settings))
        report(check_runs(settings))
    else:
        for name in ("profile", "protection", "warehouse", "parse", "connection", "store", "runs"):
            report(Check.skip(name, NO_PROJECT))
    report(check_llm(settings))
    out("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
