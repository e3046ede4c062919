"""Which lint findings a change answers for: all those on the models it creates, and the new ones on
the models it modifies. Every other finding Validate lints (on neighbours sharing a touched
``schema.yml``, pre-existing on a modified model, or accepted in the baseline) is existing debt:
reported, never blocking.

A model is *created* when it did not exist before the change; *modified* when its SQL file changed
or its own entry under ``models:`` in a YAML file changed. Entries are compared as loaded YAML, so
comments, blank lines and a neighbour's entry in the same file do not modify a model.

A model's ``ae_lint_disable`` counts as the project had it before the change (``ChangeScope.disables``):
a plan cannot switch a rule off for the models it creates or modifies, and what it tried is reported.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from graph.nodes import BUILDABLE
from tools.changeset import Changeset, PriorFile
from tools.lint import LintFinding, disabled_rules
from tools.manifest import Manifest

_YAML_SUFFIXES = (".yml", ".yaml")


def prior_texts(priors: Iterable[PriorFile]) -> dict[str, str | None]:
    """Each file's text before the change, by relative path; None where the file did not exist."""
    return {
        prior.path: base64.b64decode(prior.content_b64).decode("utf-8", errors="replace")
        if prior.existed and prior.content_b64 is not None
        else None
        for prior in priors
    }


def changed_model_entries(changeset: Changeset, before: Mapping[str, str | None]) -> set[str]:
    """Names of models whose own ``models:`` entry differs between the YAML before and after."""
    yaml_changes = [c for c in changeset.changes if c.path.endswith(_YAML_SUFFIXES)]
    old = _model_entries(before.get(c.path) for c in yaml_changes)
    new = _model_entries(c.content for c in yaml_changes)
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
    """The models (unique ids) a change created and modified."""

    created: frozenset[str]
    modified: frozenset[str]

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
        return cls(frozenset(created), frozenset(modified))

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
    entries: dict[str, Any] = {}
    for text in texts:
        try:
            document = yaml.safe_load(text or "")
        except yaml.YAMLError:
            continue
        models = document.get("models") if isinstance(document, dict) else None
        for entry in models if isinstance(models, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                entries[entry["name"]] = entry
    return entries
