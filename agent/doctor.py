"""`ae doctor`: is this machine and project ready? One OK/FAIL line per check, with what to do."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from agent.settings import Settings
from tools.engine import DbtEngine
from tools.errors import AeError, WarehouseLocked
from tools.logs import redact
from tools.profiles import read_target
from tools.warehouse import readonly_connection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def render(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.name:<12} {redact(self.detail)}"


def check_dbt() -> Check:
    try:
        core = metadata.version("dbt-core")
        duck = metadata.version("dbt-duckdb")
    except metadata.PackageNotFoundError as exc:
        return Check("dbt", False, f"{exc.name} is not installed; run `make setup`")
    if not core.startswith("1.11."):
        return Check("dbt", False, f"dbt-core {core} installed; ae needs >=1.11,<1.12 (run `make setup`)")
    return Check("dbt", True, f"dbt-core {core}, dbt-duckdb {duck}")


def check_profile(settings: Settings) -> Check:
    try:
        target = read_target(settings.project_dir, settings.target)
    except AeError as exc:
        return Check("connection", False, str(exc))
    if target.path is not None and not target.path.exists():
        # dbt debug would create an empty DuckDB file there and report success
        return Check("connection", False, f"not checked: {target.path} does not exist; generate it first")
    try:
        with DbtEngine(settings.project_dir, target=settings.target, timeout_s=120) as engine:
            result = engine.run("debug")
    except AeError as exc:
        return Check("connection", False, f"{exc}; fix profiles.yml for this project")
    if not result.success:
        return Check("connection", False, "dbt debug failed; run `dbt debug` in the project for details")
    return Check("connection", True, f"dbt debug passed for target {settings.target or '(default)'}")


def check_warehouse_lock(settings: Settings) -> Check:
    try:
        target = read_target(settings.project_dir, settings.target)
    except AeError as exc:
        return Check("warehouse", False, str(exc))
    if target.path is None:
        return Check("warehouse", True, f"{target.type} target {target.target} (no local file to check)")
    if not target.path.exists():
        return Check(
            "warehouse",
            False,
            f"{target.path} does not exist; point the profile at your warehouse, or for the example run "
            f"`python -m tools.jaffle_data generate --db {target.path}`",
        )
    try:
        with readonly_connection(target.path):
            pass
    except WarehouseLocked as exc:
        return Check("warehouse", False, f"{target.path} is locked by another process: {exc.message}")
    except AeError as exc:
        return Check("warehouse", False, str(exc))
    return Check("warehouse", True, f"{target.path} is not locked")


def check_store(settings: Settings) -> Check:
    url = settings.store_url
    if url and url.startswith(("postgresql://", "postgres://")):
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("select 1")
        except psycopg.Error as exc:
            return Check("store", False, f"cannot reach {url}: {exc}; check AE_STORE_URL")
        return Check("store", True, f"postgres store {url}")
    path = settings.state_dir / "ae.sqlite"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()
    except (OSError, sqlite3.Error) as exc:
        return Check("store", False, f"cannot open {path}: {exc}")
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


def run_doctor(settings: Settings, out: Callable[[str], None] = print) -> int:
    checks: list[Callable[[], Check]] = [
        check_dbt,
        lambda: check_warehouse_lock(settings),
        lambda: check_profile(settings),
        lambda: check_store(settings),
        lambda: check_llm(settings),
    ]
    failed = 0
    out(f"ae doctor — project {settings.project_dir}")
    for check in checks:
        result = check()
        failed += not result.ok
        out(result.render())
    out("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
