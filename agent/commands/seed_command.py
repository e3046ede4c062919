"""/dbt-seed: load a CSV of the project as a seed, with a properties YAML written from its data."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

import duckdb

from agent.commands.column_facts import facts_from_profile
from agent.commands.model_files import documented_entry
from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import Operation, PlanSpec
from tools.errors import InvalidArguments
from tools.layers import entity_of
from tools.profiling import RelationProfile, profile_relation


def profile_csv(csv_path: Path, name: str) -> RelationProfile:
    """Profile a CSV as DuckDB reads it, through a scratch database (never the warehouse)."""
    with tempfile.TemporaryDirectory(prefix="ae-seed-") as scratch:
        db_path = Path(scratch) / "seed.duckdb"
        con = duckdb.connect(str(db_path))
        try:
            con.execute(f'create table "{name}" as select * from read_csv_auto(?)', [str(csv_path)])
        except duckdb.Error as exc:
            raise InvalidArguments(f"cannot read {csv_path.name} as CSV: {exc}") from exc
        finally:
            con.close()
        return profile_relation(db_path, name)


def dbt_seed(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    given = cmd.required_text("file")
    csv_path = view.paths.resolve(given, must_exist=True)
    rel = view.paths.relative(csv_path)
    seed_paths = [str(p).strip("/") for p in view.dbt_project.get("seed-paths") or ["seeds"]]
    if not csv_path.is_file() or csv_path.suffix.lower() != ".csv":
        raise InvalidArguments(f"{rel!r} is not a .csv file", hint="dbt seeds are CSV files")
    if not any(PurePosixPath(rel).is_relative_to(p) for p in seed_paths):
        raise InvalidArguments(
            f"{rel!r} is outside the project's seed paths ({', '.join(seed_paths)})",
            hint=f"move it to {seed_paths[0]}/ so dbt finds it",
        )
    name = csv_path.stem
    if not is_identifier(name):
        raise InvalidArguments(
            f"seed name {name!r} (from the file name) must be lower case letters, digits and _"
        )
    profile = profile_csv(csv_path, name)
    key = profile.key_candidates[0] if profile.key_candidates else None
    entity = entity_of(name)
    facts = [facts_from_profile(column, is_key=column.name == key) for column in profile.columns]
    keyed = f"key {key} (unique and not null in the file)" if key else "no column is unique and never null"
    changeset = view.tools.changeset
    properties = view.properties_path(view.seeds.get(name), str(PurePosixPath(rel).with_suffix(".yml")))
    existing = view.existing_entry(changeset, properties, "seeds", name)
    entry = documented_entry(
        existing, name, f"Seed loaded from {rel}: {profile.row_count} rows, {keyed}.", facts, entity
    )
    view.write_entry(changeset, properties, "seeds", entry)
    return PlanSpec(
        summary=f"load seed {name} from {rel}",
        operations=[Operation(command="seed", select=[name])],
        verify_select=[name],
        answer=f"{name}: {profile.row_count} rows, {len(profile.columns)} columns, {keyed}; "
        f"properties in {properties}. Reference it as {{{{ ref('{name}') }}}}.",
    )
