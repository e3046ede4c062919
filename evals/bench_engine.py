"""`make bench`: dbt through the warm engine vs. the dbt CLI as a subprocess, side by side.

First the one-shot path a person or CI sees: ``ae run "/dbt-compile --select M"`` end to end (a new
``ae`` process each time) against ``dbt compile --select M`` typed in the project folder, taken in
turns on the same project; medians, and ae's first run apart (it starts the engine).
Then four operations on the generated example project — compile one model, run one model, test
one model, a 5-row show preview — each repeated through the warm engine and the CLI; the median
latency of each path and their ratio are printed, then
``engine_vs_cli_speedup_median: <number>`` (median of the four ratios).
Last, the warehouse port's per-call cost (tools/warehouse_port): a read-only query and a profile of
one table (raw.orders), median of warm calls, on DuckDB opened by ae, on DuckDB through dbt-duckdb in
the engine's child, and on PostgreSQL through dbt-postgres when a server answers (the libpq
variables PGHOST, PGPORT, PGUSER, PGPASSWORD; defaults 127.0.0.1, 5432, the current user; a database
of its own, dropped after).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from evals.oneshot_breakdown import print_breakdown
from tools.engine import DbtCall, DbtEngine
from tools.example_project import create_example_project, warehouse_path
from tools.logs import configure_logging
from tools.profiling import profile_relation
from tools.warehouse_port import RelationName, Warehouse, adapter_warehouse, duckdb_warehouse

STAGING_SQL = """\
select
    id as customer_id,
    name as customer_name,
    created_at
from {{ source('raw', 'customers') }}
"""

STAGING_YML = """\
version: 2
models:
  - name: bench_customers
    description: Customers, renamed.
    columns:
      - name: customer_id
        description: Primary key.
        data_tests: [unique, not_null]
"""

OPERATIONS: dict[str, DbtCall] = {
    "compile one model": DbtCall(command="compile", select=["bench_customers"]),
    "run one model": DbtCall(command="run", select=["bench_customers"]),
    "test one model": DbtCall(command="test", select=["bench_customers"]),
    "show 5 rows": DbtCall(command="show", select=["bench_customers"], limit=5),
}


def _median_seconds(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


#: dbt's usage tracking would try the network on every CLI call; ae's engine turns it off too
ENV = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def _tool(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def _subprocess(argv: list[str], project: Path, env: dict[str, str] = ENV) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)

    return run


def unwarmed_env() -> dict[str, str]:
    """``ENV`` with a variable of its own: the warm processes ae keeps (the run server, the dbt
    engine) are keyed by the environment, so none left by an earlier bench or run serves this one,
    and its first ``ae run`` starts them. They leave a minute after the bench stops using them."""
    return ENV | {"AE_BENCH_RUN": uuid.uuid4().hex, "AE_ENGINE_KEEP_ALIVE_S": "60"}


def _cli_runner(project: Path, call: DbtCall) -> Callable[[], object]:
    from tools.engine.commands import build_args

    argv = [_tool("dbt"), *build_args(call), "--project-dir", str(project), "--profiles-dir", str(project)]
    return _subprocess(argv, project)


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def one_shot(project: Path, model: str, repeat: int) -> None:
    """``ae run "/dbt-compile"`` vs ``dbt compile``: first runs, then medians taken in turns so both
    see the same machine load.

    ae's first run starts every process ae keeps warm (``unwarmed_env``). It is taken twice: on a
    project dbt has parsed once, as one someone works on with dbt is, against the CLI's median (the
    CLI's runs find the same parse); and on a copy never parsed, against the CLI's first run on
    another such copy (both parse it whole).
    """
    ae_argv = [_tool("ae"), "run", f"/dbt-compile --select {model}", "--project", str(project)]
    dbt_argv = [_tool("dbt"), "compile", "--select", model]
    never_parsed = project.parent / "never-parsed"
    for name in ("dbt", "ae"):
        shutil.copytree(project, never_parsed / name)
    dbt_first_unparsed = _seconds(_subprocess(dbt_argv, never_parsed / "dbt"))
    ae_unparsed_argv = [*ae_argv[:-1], str(never_parsed / "ae")]
    ae_first_unparsed = _seconds(_subprocess(ae_unparsed_argv, never_parsed / "ae", unwarmed_env()))

    subprocess.run([_tool("dbt"), "parse"], cwd=project, env=ENV, check=True, capture_output=True)
    env = unwarmed_env()
    ae, dbt = _subprocess(ae_argv, project, env), _subprocess(dbt_argv, project)
    first = _seconds(ae)
    ae_s, dbt_s = [], []
    for _ in range(repeat):
        dbt_s.append(_seconds(dbt))
        ae_s.append(_seconds(ae))
    ae_median, dbt_median = statistics.median(ae_s), statistics.median(dbt_s)
    bytecode = "off" if sys.dont_write_bytecode else "on"
    print(f"\none-shot compile of {model}, {repeat} runs each in turns (bytecode caching {bytecode}):")
    print(f"  ae run (first)   {first:>7.2f}s   starts the run server and the dbt engine")
    print(f"  ae run (median)  {ae_median:>7.2f}s   runs: {' '.join(f'{x:.2f}' for x in ae_s)}")
    print(f"  dbt CLI (median) {dbt_median:>7.2f}s   runs: {' '.join(f'{x:.2f}' for x in dbt_s)}")
    print("  on a copy dbt never parsed (each parses it whole):")
    print(f"  ae run (first)   {ae_first_unparsed:>7.2f}s")
    print(f"  dbt CLI (first)  {dbt_first_unparsed:>7.2f}s")
    print(f"ae_run_vs_dbt_cli_ratio: {ae_median / dbt_median:.2f}")
    print(f"ae_first_run_vs_dbt_cli_ratio: {first / dbt_median:.2f}")
    print(f"ae_first_run_vs_dbt_cli_first_never_parsed_ratio: {ae_first_unparsed / dbt_first_unparsed:.2f}")
    print_breakdown(ae_argv, project, env, repeat)


PORT_TABLE = "raw.orders"
PORT_QUERY = (
    "select status, count(*) as n, sum(order_total) as total from raw.orders group by status order by status"
)
POSTGRES_PROFILE = """\
bench:
  target: dev
  outputs:
    dev:
      type: postgres
      host: "{{{{ env_var('PGHOST', '127.0.0.1') }}}}"
      port: "{{{{ env_var('PGPORT', '5432') | as_number }}}}"
      user: "{{{{ env_var('PGUSER', '{user}') }}}}"
      password: "{{{{ env_var('PGPASSWORD', '') }}}}"
      dbname: {database}
      schema: public
      threads: 1
"""


def _port_costs(warehouse: Warehouse, repeat: int) -> tuple[float, float]:
    """Median seconds of a read-only query and of a profile of PORT_TABLE, after one warm-up each."""
    query = partial(warehouse.query, PORT_QUERY, 10)
    profile = partial(profile_relation, warehouse, PORT_TABLE)
    query()
    profile()
    return _median_seconds(query, repeat), _median_seconds(profile, repeat)


@contextlib.contextmanager
def _postgres_project(folder: Path) -> Iterator[Path | None]:
    """A dbt-postgres project on a database of its own, dropped after; None when no server answers."""
    import psycopg

    user = os.environ.get("PGUSER") or getpass.getuser()
    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": user,
        "password": os.environ.get("PGPASSWORD", ""),
        "dbname": "postgres",
        "connect_timeout": 3,
    }
    database = f"ae_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'create database "{database}"')
    except psycopg.Error as exc:
        print(f"  PostgreSQL skipped: no server answered ({str(exc).strip()})", file=sys.stderr)
        yield None
        return
    try:
        folder.mkdir()
        (folder / "dbt_project.yml").write_text("name: bench\nversion: '1.0'\nprofile: bench\n")
        (folder / "profiles.yml").write_text(POSTGRES_PROFILE.format(user=user, database=database))
        yield folder
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'drop database if exists "{database}" with (force)')


def port_costs(project: Path, engine: DbtEngine, repeat: int) -> list[tuple[str, float, float]]:
    """The port's per-call cost on each path (module docstring)."""
    direct = duckdb_warehouse(warehouse_path(project))
    rows: list[tuple[str, float, float]] = [
        ("duckdb (opened by ae)", *_port_costs(direct, repeat)),
        ("duckdb (dbt-duckdb)", *_port_costs(adapter_warehouse(engine), repeat)),
    ]
    table = direct.describe(PORT_TABLE)
    data = direct.query(f"select * from {PORT_TABLE}", limit=10_000)
    with _postgres_project(project.parent / "postgres") as pg_project:
        if pg_project is not None:
            with DbtEngine(pg_project) as pg_engine:
                postgres = adapter_warehouse(pg_engine)
                postgres.create_schema("raw")
                postgres.load_rows(RelationName(schema_name="raw", name="orders"), table.columns, data.rows)
                rows.append(("postgres (dbt-postgres)", *_port_costs(postgres, repeat)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.bench_engine", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=5, help="calls per operation and path (default 5)")
    parser.add_argument("--scale", type=int, default=1, help="example warehouse scale (default 1)")
    parser.add_argument("--one-shot-only", action="store_true", help="only ae run vs the dbt CLI")
    parser.add_argument("--port-only", action="store_true", help="only the warehouse port's per-call cost")
    args = parser.parse_args(argv)
    configure_logging(level="WARNING")

    with tempfile.TemporaryDirectory(prefix="ae-bench-") as tmp:
        project = create_example_project(Path(tmp) / "jaffle_shop", scale=args.scale, seed=42)
        (project / "models" / "staging" / "bench_customers.sql").write_text(STAGING_SQL)
        (project / "models" / "staging" / "_bench.yml").write_text(STAGING_YML)
        print(f"project: {project} (scale {args.scale}), {args.repeat} calls per operation and path")
        if not args.port_only:
            one_shot(project, "bench_customers", args.repeat)
        if args.one_shot_only:
            return 0
        rows: list[tuple[str, float, float]] = []
        with DbtEngine(project) as engine:
            engine.invoke(DbtCall(command="run", select=["bench_customers"]))  # warm up, build the table
            for name, call in OPERATIONS.items() if not args.port_only else ():
                engine_s = _median_seconds(partial(engine.invoke, call), args.repeat)
                cli_s = _median_seconds(_cli_runner(project, call), args.repeat)
                rows.append((name, engine_s, cli_s))
                print(f"  measured {name}", file=sys.stderr)
            port = port_costs(project, engine, args.repeat)

    if rows:
        print(f"\n{'operation':<20} {'engine (s)':>11} {'cli (s)':>9} {'speedup':>8}")
        ratios = []
        for name, engine_s, cli_s in rows:
            ratios.append(cli_s / engine_s)
            print(f"{name:<20} {engine_s:>11.3f} {cli_s:>9.3f} {cli_s / engine_s:>7.1f}x")
        print(f"engine_vs_cli_speedup_median: {statistics.median(ratios):.2f}")
    _print_port(port, args.repeat)
    return 0


def _print_port(rows: list[tuple[str, float, float]], repeat: int) -> None:
    print(f"\nwarehouse port per call ({PORT_TABLE}), median of {repeat} warm calls:")
    print(f"{'path':<26} {'query (ms)':>11} {'profile (ms)':>13}")
    for name, query_s, profile_s in rows:
        print(f"{name:<26} {query_s * 1000:>11.1f} {profile_s * 1000:>13.1f}")


if __name__ == "__main__":
    sys.exit(main())
