"""Which lint findings a change answers for: all those on the models it creates, and the new ones on
the models it modifies. Every other finding Validate lints (on neighbours sharing a touched
``schema.yml``, pre-existing on a modified model, or accepted in the baseline) is existing debt:
reported, never blocking.

A model is *created* when it did not exist before the change; *modified* when its SQL file changed
or its own entry under ``models:`` in a YAML file changed. Entries are compared as loaded YAML, so
comments, blank lines and a neighbour's entry in the same file do not modify a model.

A renamed column keeps its debt: a finding on the new name of a column of a modified model counts
as found before when the old name had it (``ChangeScope.renamed``). A column is renamed when its
entry under the model's ``columns:`` changed only its name (the one entry whose content, tests and
description included, is the same; what the rename edits of tools/sql_edit do) and the SQL agrees:
the model output the old name before the change and the new one after it, not the other way round.
Anything less certain (two columns that could be it, SQL that does not say what it outputs) is no
rename, and every finding on the new name counts.

A model's ``ae_lint_disable`` counts as the project had it before the change (``ChangeScope.disables``):
a plan cannot switch a rule off for the models it creates or modifies, and what it tried is reported.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from graph.nodes import BUILDABLE
from tools.changeset import Changeset, PriorFile
from tools.lint import LintFinding, disabled_rules, lint_dialect, model_output_columns, normalize_column
from tools.manifest import Manifest, Node
from tools.properties_files import YAML_SUFFIXES, model_entries


def prior_texts(priors: Iterable[PriorFile]) -> dict[str, str | None]:
    """Each file's text before the change, by relative path; None where the file did not exist."""
    return {
        prior.path: base64.b64decode(prior.content_b64).decode("utf-8", errors="replace")
        if prior.existed and prior.content_b64 is not None
        else None
        for prior in priors
    }


def _entries(changeset: Changeset, before: Mapping[str, str | None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``models:`` entries of the YAML files the change touches, by model name: (before, after)."""
    yaml_changes = [c for c in changeset.changes if c.path.endswith(YAML_SUFFIXES)]
    old = _model_entries(before.get(c.path) for c in yaml_changes)
    return old, _model_entries(c.content for c in yaml_changes)


def changed_model_entries(changeset: Changeset, before: Mapping[str, str | None]) -> set[str]:
    """Names of models whose own ``models:`` entry differs between the YAML before and after."""
    old, new = _entries(changeset, before)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def models_it_may_modify(changeset: Changeset, before: Mapping[str, str | None]) -> set[str]:
    """Names of models the change may modify: those of existing SQL files it changes (a model is
    named after its file), and those whose YAML entry changes but whose SQL file it does not create.
    Empty when it only adds models, so Validate need not look at the project as it was."""
    sql = [c.path for c in changeset.changes if c.path.endswith(".sql")]
    existing = {PurePosixPath(p).stem for p in sql if before.get(p) is not None}
    added = {PurePosixPath(p).stem for p in sql if before.get(p) is None}
    return existing | (changed_model_entries(changeset, before) - added)


@dataclass(frozen=True)
class ChangeScope:
    """The models (unique ids) a change created and modified, and the columns it renamed."""

    created: frozenset[str]
    modified: frozenset[str]
    #: modified model -> {old column: new column}, names as findings give them
    renamed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        manifest: Manifest,
        changeset: Changeset,
        before: Mapping[str, str | None],
        before_manifest: Manifest | None,
    ) -> ChangeScope:
        """``before`` holds the touched files' old texts; ``before_manifest`` the project parsed before
        the change, None when it was not parsed (then a model existed when its SQL file did)."""
        entries = changed_model_entries(changeset, before)
        created: set[str] = set()
        modified: set[str] = set()
        for uid, node in manifest.root("model").items():
            sql = node.original_file_path
            if before_manifest is not None:
                existed = uid in before_manifest.nodes
            else:
                existed = sql not in before or before[sql] is not None
            if not existed:
                created.add(uid)
            elif sql in before or node.name in entries:
                modified.add(uid)
        renamed = _renamed(manifest, before_manifest, *_entries(changeset, before), modified)
        return cls(frozenset(created), frozenset(modified), renamed)

    def found_before(self, findings: Iterable[LintFinding]) -> set[str]:
        """The fingerprints of the modified models' findings before the change, each also under the
        new name of a column the change renamed: that column's debt, not a new finding."""
        found: set[str] = set()
        for finding in findings:
            found.add(finding.fingerprint)
            column, _, rest = finding.detail.partition(" ")
            new = self.renamed.get(finding.node, {}).get(column)
            if new is not None:
                found.add(finding.model_copy(update={"detail": f"{new} {rest}".rstrip()}).fingerprint)
        return found

    def disables(self, manifest: Manifest, before_manifest: Manifest | None) -> dict[str, frozenset[str]]:
        """What each model's ``ae_lint_disable`` may switch off: for a model the change created,
        nothing; for one it modified, what it switched off before the change (nothing when the
        project was not parsed before it); for any other, its own list, which the change left alone."""
        old = before_manifest.nodes if before_manifest is not None else {}
        allowed: dict[str, frozenset[str]] = {}
        for uid, node in manifest.root(*BUILDABLE).items():
            if uid in self.created:
                allowed[uid] = frozenset()
            elif uid in self.modified:
                allowed[uid] = disabled_rules(old[uid]) if uid in old else frozenset()
            else:
                allowed[uid] = disabled_rules(node)
        return allowed

    def split(
        self,
        findings: Iterable[LintFinding],
        *,
        before: Collection[str] | None,
        baseline: Collection[str],
    ) -> tuple[list[LintFinding], list[LintFinding]]:
        """(findings this change answers for, existing debt). ``before`` holds the fingerprints found
        on the modified models before the change; None when unknown, and then all of theirs count."""
        answered: list[LintFinding] = []
        debt: list[LintFinding] = []
        for finding in findings:
            new_on_modified = finding.node in self.modified and (
                before is None or finding.fingerprint not in before
            )
            counts = finding.fingerprint not in baseline and (finding.node in self.created or new_on_modified)
            (answered if counts else debt).append(finding)
        return answered, debt


def added_disables(manifest: Manifest, allowed: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    """The rule ids each model's ``ae_lint_disable`` lists beyond what it may switch off (by unique id)."""
    return {
        uid: sorted(extra)
        for uid, node in manifest.root(*BUILDABLE).items()
        if (extra := disabled_rules(node) - allowed.get(uid, frozenset()))
    }


def _model_entries(texts: Iterable[str | None]) -> dict[str, Any]:
    """The ``models:`` entries of these YAML texts by name; text that does not load holds none
    (dbt parse reports it)."""
    return {entry["name"]: entry for text in texts for entry in model_entries(text or "")}


def _renamed(
    manifest: Manifest,
    before_manifest: Manifest | None,
    old_entries: Mapping[str, Any],
    new_entries: Mapping[str, Any],
    modified: Collection[str],
) -> dict[str, dict[str, str]]:
    """The columns each modified model renamed (see the module docstring); none without the
    project as it was."""
    if before_manifest is None:
        return {}
    renamed: dict[str, dict[str, str]] = {}
    dialect = lint_dialect(manifest)
    for uid in modified:
        node, old_node = manifest.nodes.get(uid), before_manifest.nodes.get(uid)
        if node is None or old_node is None or node.name not in old_entries or node.name not in new_entries:
            continue
        pairs = _entry_renames(old_entries[node.name], new_entries[node.name])
        confirmed = {
            old: new for old, new in pairs.items() if _outputs_agree(old_node, node, old, new, dialect)
        }
        if confirmed:
            renamed[uid] = confirmed
    return renamed


def _columns(entry: Any) -> dict[str, dict[str, Any]]:
    """An entry's columns by name (as findings name them), each without its name."""
    listed = entry.get("columns") if isinstance(entry, dict) else None
    columns = listed if isinstance(listed, list) else []
    return {
        normalize_column(column["name"]): {k: v for k, v in column.items() if k != "name"}
        for column in columns
        if isinstance(column, dict) and isinstance(column.get("name"), str)
    }


def _entry_renames(old_entry: Any, new_entry: Any) -> dict[str, str]:
    """{old: new} for each column entry that only changed its name: the one entry gone and the one
    added whose content is the same, neither matching any other."""
    old, new = _columns(old_entry), _columns(new_entry)
    gone = {name: content for name, content in old.items() if name not in new}
    added = {name: content for name, content in new.items() if name not in old}
    pairs: dict[str, str] = {}
    for name, content in gone.items():
        same = [a for a, other in added.items() if other == content]
        rivals = [g for g, other in gone.items() if other == content]
        if len(same) == 1 and rivals == [name]:
            pairs[name] = same[0]
    return pairs


def _outputs_agree(old_node: Node, node: Node, old: str, new: str, dialect: str) -> bool:
    """The SQL output ``old`` before the change and ``new`` after it, and not the other way round."""
    before, after = model_output_columns(old_node, dialect), model_output_columns(node, dialect)
    if before is None or after is None:
        return False
    return old in before and old not in after and new in after and new not in before
