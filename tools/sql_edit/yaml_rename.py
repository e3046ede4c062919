"""Rename a model's column in a properties file, every other byte kept.

tools/yaml_edit.py merges entries (it adds, never renames), so this does the one thing it lacks: the
scalars that name the column are found on ruamel.yaml's composed nodes, which carry their exact
positions, and only those are rewritten (quote style kept). What names a model's column:

- ``columns: - name: old`` under the model's entry (its column tests move with it);
- a model-level test of that entry: ``column_name: old``, or ``old`` in ``combination_of_columns``;
- anywhere in the file, a ``relationships`` test pointing at the model: ``to: ref('model')`` with
  ``field: old`` (also under dbt 1.10's ``arguments:``).
"""

from __future__ import annotations

from collections.abc import Iterator

import jinja2
from jinja2 import nodes
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tools.jinja_inspect import parse_jinja
from tools.sql_edit.text import EditRefused, Splice, apply_splices

_TEST_KEYS = ("data_tests", "tests")
_COLUMN_LISTS = ("combination_of_columns",)


def _pairs(node: Node) -> Iterator[tuple[ScalarNode, Node]]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                yield key, value


def _get(node: Node, key: str) -> Node | None:
    return next((v for k, v in _pairs(node) if k.value == key), None)


def _walk(node: Node | None) -> Iterator[Node]:
    stack = [node] if node is not None else []
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, MappingNode):
            stack.extend(child for pair in current.value for child in pair)
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)


def _refs(value: str, model: str) -> bool:
    """Whether a ``to:`` value (``ref('model')``) names the model."""
    try:
        template = parse_jinja("{{ " + value + " }}")
    except jinja2.TemplateSyntaxError:
        return False
    call = next(template.find_all(nodes.Call), None)
    if call is None or not isinstance(call.node, nodes.Name) or call.node.name != "ref" or not call.args:
        return False
    last = call.args[-1]
    return isinstance(last, nodes.Const) and last.value == model


def _scalar_is(node: Node | None, value: str) -> bool:
    return isinstance(node, ScalarNode) and str(node.value).lower() == value.lower()


def _rename_scalar(node: ScalarNode, new: str, where: str) -> Splice:
    if node.anchor is not None:
        raise EditRefused(
            f"{where} line {node.start_mark.line + 1}: the column name is shared through a YAML anchor"
        )
    quote = {"'": "'", '"': '"'}.get(node.style or "", "")
    if node.style not in (None, "'", '"'):
        raise EditRefused(f"{where} line {node.start_mark.line + 1}: the column name is a block scalar")
    return Splice(int(node.start_mark.index), int(node.end_mark.index), f"{quote}{new}{quote}")


def _test_bodies(tests: Node | None) -> Iterator[Node]:
    """The arguments of each test written as a mapping (``- dbt_utils.x: {...}``) in a test list."""
    if not isinstance(tests, SequenceNode):
        return
    for test in tests.value:
        for _, body in _pairs(test):
            arguments = _get(body, "arguments")
            yield arguments if isinstance(arguments, MappingNode) else body


def rename_in_yaml(text: str, where: str, *, model: str, old: str, new: str) -> str:
    """The properties file with the model's column ``old`` named ``new`` (see the module docstring);
    the text unchanged when nothing in it names the column."""
    try:
        root = YAML(typ="safe", pure=True).compose(text)
    except YAMLError as exc:
        raise EditRefused(
            f"{where} is not valid YAML, so its column names cannot be renamed ({exc})"
        ) from exc
    splices: list[Splice] = []
    models = _get(root, "models") if root is not None else None
    entries = models.value if isinstance(models, SequenceNode) else []
    for entry in entries:
        if not _scalar_is(_get(entry, "name"), model):
            continue
        columns = _get(entry, "columns")
        for column in columns.value if isinstance(columns, SequenceNode) else []:
            name = _get(column, "name")
            if isinstance(name, ScalarNode) and _scalar_is(name, old):
                splices.append(_rename_scalar(name, new, where))
        for key in _TEST_KEYS:
            for body in _test_bodies(_get(entry, key)):
                column_name = _get(body, "column_name")
                if isinstance(column_name, ScalarNode) and _scalar_is(column_name, old):
                    splices.append(_rename_scalar(column_name, new, where))
                for list_key in _COLUMN_LISTS:
                    listed = _get(body, list_key)
                    for item in listed.value if isinstance(listed, SequenceNode) else []:
                        if isinstance(item, ScalarNode) and _scalar_is(item, old):
                            splices.append(_rename_scalar(item, new, where))
    for node in _walk(root):
        relationships = _get(node, "relationships") if isinstance(node, MappingNode) else None
        if relationships is None:
            continue
        arguments = _get(relationships, "arguments")
        body = arguments if isinstance(arguments, MappingNode) else relationships
        to, field = _get(body, "to"), _get(body, "field")
        named = isinstance(to, ScalarNode) and _refs(str(to.value), model)
        if named and isinstance(field, ScalarNode) and _scalar_is(field, old):
            splices.append(_rename_scalar(field, new, where))
    unique = {(s.start, s.end): s for s in splices}
    return apply_splices(text, unique.values())
