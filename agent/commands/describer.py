"""HeuristicDescriber: descriptions for models and columns nobody described, from names and data.

Existing descriptions are never changed. Columns come from the built relation (so every output column
gets declared) plus any the YAML already declares; a model that is not built is described from its
declared columns only.
"""

from __future__ import annotations

from agent.commands.column_facts import ColumnFacts, facts_from_profile
from agent.commands.descriptions import model_description
from agent.commands.model_files import documented_entry
from agent.commands.naming import grain_entity
from agent.commands.project import ProjectView
from tools.changeset import Changeset
from tools.context import ToolContext
from tools.manifest import Manifest, Node
from tools.profiling import RelationProfile


def _facts(node: Node, profile: RelationProfile | None) -> list[ColumnFacts]:
    key = profile.key_candidates[0] if profile and profile.key_candidates else None
    facts = [facts_from_profile(c, is_key=c.name == key) for c in profile.columns] if profile else []
    present = {f.name.lower() for f in facts}
    declared = [name for name in node.columns if name.lower() not in present]
    return facts + [ColumnFacts(name=name, type="", never_null=False) for name in declared]


class HeuristicDescriber:
    """Deterministic: the same manifest and data give the same descriptions."""

    def describe(self, manifest: Manifest, unique_ids: list[str], tools: ToolContext) -> Changeset:
        view = ProjectView(tools, manifest=manifest)
        changeset = Changeset()
        for uid in sorted(unique_ids):
            node = manifest.nodes.get(uid)
            if node is None or node.resource_type != "model" or node.is_package:
                continue
            name = node.name
            profile = view.profile(view.relation_of(node)) if view.is_built(node) else None
            key = profile.key_candidates[0] if profile and profile.key_candidates else None
            upstream = [d.rsplit(".", 1)[-1] for d in node.depends_on]
            entity = grain_entity(name, key)
            description = model_description(name, node.layer, entity, key, upstream)
            path = view.properties_file(node)
            existing = view.existing_entry(changeset, path, "models", name)
            entry = documented_entry(
                existing, name, description, _facts(node, profile), entity, add_tests=False
            )
            view.write_entry(changeset, path, "models", entry)
        return changeset
