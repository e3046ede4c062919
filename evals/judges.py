"""External judges of generated dbt code: tools we did not write, run on what ae writes.

- **sqlfluff** lints SQL (jinja templater with its dbt stand-ins for ref/source/config/var/
  is_incremental/this, the project's macros loaded, dialect duckdb) against the committed
  ``.sqlfluff`` at the repository root, which states the house style of generated SQL.
- **dbt-score** scores the metadata in dbt's manifest (descriptions, owners, key tests...)
  with the rules and thresholds in the committed ``dbt-score.toml`` (dbt-score itself reads only
  ``[tool.dbt-score]`` of a pyproject.toml; this file holds the same section, so the CLI and these
  judges agree once the section is copied there).

Both are dev dependencies: they are imported when a judge runs, never by the agent.

- **dbt-project-evaluator**'s structure and DAG rules that ae's generators decide (which folder a
  file goes to, how a node is named, what a model reads) are re-stated here over dbt's manifest:
  the package itself needs dbt_utils from the dbt Hub, which this offline machine cannot reach, so
  it cannot run in the tests. Each rule below follows the package's model of that name (its SQL is
  cited in the function), with its default settings.
"""

from __future__ import annotations

import contextlib
import io
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parents[1]
SQLFLUFF_CONFIG = REPO_ROOT / ".sqlfluff"
DBT_SCORE_CONFIG = REPO_ROOT / "dbt-score.toml"

Judge = Literal["sqlfluff", "dbt-score", "dbt-project-evaluator"]


@dataclass(frozen=True)
class JudgeFinding:
    judge: Judge
    where: str  # a file path (sqlfluff) or a dbt unique_id (dbt-score)
    line: int | None
    code: str
    message: str

    def render(self) -> str:
        """``models/x.sql:7: LT01 ...`` or ``model.shop.dim_customers: has_owner ...``."""
        place = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{place}: {self.code} {self.message}"


@dataclass(frozen=True)
class MetadataScore:
    """dbt-score's verdict: the project score, each scored item's score (0-10), and the violations."""

    project: float
    items: Mapping[str, float]
    findings: tuple[JudgeFinding, ...]
    fail_project_under: float
    fail_any_item_under: float

    @property
    def passes(self) -> bool:
        """dbt-score's own pass rule: the project and every item at or above their thresholds."""
        return self.project >= self.fail_project_under and all(
            score >= self.fail_any_item_under for score in self.items.values()
        )

    def failing_items(self) -> dict[str, float]:
        return {name: s for name, s in self.items.items() if s < self.fail_any_item_under}


def sqlfluff_findings(
    files: Iterable[Path], *, project_dir: Path, config_path: Path = SQLFLUFF_CONFIG
) -> list[JudgeFinding]:
    """sqlfluff's violations (parse errors included) in the given SQL files of a dbt project."""
    from sqlfluff.core import FluffConfig, Linter

    linter = Linter(config=_sqlfluff_config(FluffConfig, config_path, project_dir))
    findings: list[JudgeFinding] = []
    for path in sorted(files):
        linted = linter.lint_string(path.read_text(encoding="utf-8"), fname=str(path))
        shown = str(path.relative_to(project_dir)) if path.is_relative_to(project_dir) else str(path)
        findings += [
            JudgeFinding("sqlfluff", shown, v.line_no, v.rule_code(), v.desc()) for v in linted.violations
        ]
    return findings


def sqlfluff_findings_in_text(
    sql: str, *, name: str, project_dir: Path, config_path: Path = SQLFLUFF_CONFIG
) -> list[JudgeFinding]:
    """The same judgement on SQL held in memory (an eval task's reference solution)."""
    from sqlfluff.core import FluffConfig, Linter

    linter = Linter(config=_sqlfluff_config(FluffConfig, config_path, project_dir))
    linted = linter.lint_string(sql, fname=name)
    return [JudgeFinding("sqlfluff", name, v.line_no, v.rule_code(), v.desc()) for v in linted.violations]


def _sqlfluff_config(config_class: Any, config_path: Path, project_dir: Path) -> Any:
    # The project's own macros render as they do in dbt; without them a call like
    # {{ cents_to_dollars('x') }} is a templating error, not a judgement of the SQL.
    macros = project_dir / "macros"
    config = config_class.from_path(str(config_path.parent))
    if macros.is_dir():
        config.set_value(["templater", "jinja", "load_macros_from_path"], str(macros))
    return config


def metadata_score(manifest_path: Path, *, config_path: Path = DBT_SCORE_CONFIG) -> MetadataScore:
    """dbt-score on a manifest, with the committed rules and thresholds."""
    from dbt_score.config import Config
    from dbt_score.lint import lint_dbt_project

    config = _dbt_score_config(Config(), config_path)
    with contextlib.redirect_stdout(io.StringIO()):  # its formatters print; we return the figures
        evaluation = lint_dbt_project(manifest_path, config, format="json")
    items: dict[str, float] = {}
    findings: list[JudgeFinding] = []
    for item, results in evaluation.results.items():
        items[item.unique_id] = evaluation.scores[item].value
        for rule, outcome in results.items():
            if outcome is None:
                continue
            message = str(getattr(outcome, "message", outcome))
            findings.append(JudgeFinding("dbt-score", item.unique_id, None, rule.__name__, message))
    return MetadataScore(
        project=evaluation.project_score.value,
        items=items,
        findings=tuple(sorted(findings, key=lambda f: (f.where, f.code))),
        fail_project_under=config.fail_project_under,
        fail_any_item_under=config.fail_any_item_under,
    )


def _dbt_score_config(config: Any, config_path: Path) -> Any:
    from dbt_score.rule import RuleConfig

    section = dict(tomllib.loads(config_path.read_text(encoding="utf-8"))["tool"]["dbt-score"])
    rules = section.pop("rules", {})
    config.overload(section)
    config.rules_config = {name: RuleConfig.from_dict(values) for name, values in rules.items()}
    return config


# --- dbt-project-evaluator's rules on what ae lays out ----------------------------------------------------

#: the package's defaults: a model's type comes from its name's prefix, else from the deepest folder of
#: its path named like a type (int_all_graph_resources), else "other"
_EVALUATOR_PREFIXES = {
    "base_": "base",
    "stg_": "staging",
    "int_": "intermediate",
    "fct_": "marts",
    "dim_": "marts",
    "rpt_": "other",
}
_EVALUATOR_FOLDERS = ("base", "staging", "intermediate", "marts")
#: fct_model_fanout's models_fanout_threshold
_FANOUT_THRESHOLD = 3
EVALUATOR_RULES = ("fct_source_directories", "fct_staging_dependent_on_staging", "fct_model_fanout")


def _evaluator_model_type(node: Mapping[str, Any]) -> str | None:
    if node["resource_type"] not in {"model", "snapshot"}:
        return None
    prefix = str(node["name"]).split("_", 1)[0] + "_"
    if prefix in _EVALUATOR_PREFIXES:
        return _EVALUATOR_PREFIXES[prefix]
    directory = str(node["original_file_path"]).rsplit("/", 1)[0] + "/"
    found = [(directory.find(folder), folder) for folder in _EVALUATOR_FOLDERS if folder in directory]
    return max(found)[1] if found else "other"


def project_evaluator_findings(manifest_path: Path, project_name: str | None = None) -> list[JudgeFinding]:
    """The findings of dbt-project-evaluator's rules in ``EVALUATOR_RULES`` on the project's own nodes."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    project = project_name or manifest["metadata"].get("project_name")
    sources = [s for s in manifest["sources"].values() if s["package_name"] == project]
    nodes = {
        uid: n
        for uid, n in {**manifest["nodes"], **manifest.get("exposures", {})}.items()
        if n["package_name"] == project and n["resource_type"] != "test"
    }
    children: dict[str, list[str]] = {uid: [] for uid in nodes}
    for uid, node in nodes.items():
        for parent in node.get("depends_on", {}).get("nodes", []):
            children.setdefault(parent, []).append(uid)
    findings = [
        # fct_source_directories: a source's YAML sits in a folder whose path names the source
        JudgeFinding(
            "dbt-project-evaluator", s["unique_id"], None, "fct_source_directories", s["original_file_path"]
        )
        for s in sources
        if s["source_name"] not in s["original_file_path"].rsplit("/", 1)[0]
    ]
    for uid, node in nodes.items():
        kids = [nodes[c] for c in children.get(uid, []) if c in nodes]
        # fct_staging_dependent_on_staging: a staging model or snapshot read by another
        if _evaluator_model_type(node) == "staging":
            staged = [k["name"] for k in kids if _evaluator_model_type(k) == "staging"]
            findings += [
                JudgeFinding("dbt-project-evaluator", uid, None, "fct_staging_dependent_on_staging", child)
                for child in staged
            ]
        # fct_model_fanout: a model read directly by threshold-many models that nothing reads
        leaves = [
            k["name"] for k in kids if k["resource_type"] == "model" and not children.get(k["unique_id"])
        ]
        if node["resource_type"] == "model" and len(leaves) >= _FANOUT_THRESHOLD:
            findings.append(
                JudgeFinding(
                    "dbt-project-evaluator", uid, None, "fct_model_fanout", ", ".join(sorted(leaves))
                )
            )
    return findings
