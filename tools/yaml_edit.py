"""Edits of dbt YAML files (properties files, ``packages.yml``) that change only what they mean to.

People care about their ``schema.yml``: comments, blank lines, flow lists ``[unique, not_null]``,
quoting, key order, folded ``>`` text. Loading a file and dumping it again loses all of that (PyYAML)
or most of it (ruamel.yaml's round-trip dump still re-indents the whole file to one style, respaces
flow lists and moves comments that sit after the last item of a list). So an edit here never
re-dumps the file: ruamel.yaml composes it into nodes that carry their exact positions, each change
becomes a splice of new text at those positions, and every byte outside the splices is the file's.
New text is rendered by ruamel.yaml in the file's own indentation (detected), never reflowed.

Scalars are read and written with YAML 1.1 rules, as dbt (PyYAML) reads them: ``yes`` is a boolean,
so a new string ``"yes"`` is written quoted.

Merging an entry (``upsert_entry``): keys whose value equals the file's are left alone, differing
values are replaced one by one, ``columns``/``tables``/macro ``arguments`` are matched by ``name``
and merged the same way, test lists only gain the tests they lack, and keys the new entry does not
mention are kept. Nothing is ever removed.
"""

from __future__ import annotations

import copy
import io
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.resolver import VersionedResolver

from tools.codegen import PropertyKind, dump_yaml
from tools.errors import InvalidArguments

TestKey = Literal["data_tests", "tests"]
TEST_KEYS: tuple[TestKey, ...] = ("data_tests", "tests")
#: lists of named mappings that are merged item by item (matched on ``name``) instead of replaced
_NAMED_LISTS = frozenset({"columns", "tables", "arguments"})
#: keys of a generic test's body that are not arguments of the test macro; copied from dbt-core's
#: TestBuilder (dbt/parser/generic_test_builders.py: CONFIG_ARGS and the top-level keys) so that this
#: module does not import dbt (~1.3 s)
_TEST_PROPERTIES = frozenset(
    {
        "config",
        "column_name",
        "description",
        "name",
        "severity",
        "tags",
        "enabled",
        "where",
        "limit",
        "warn_if",
        "error_if",
        "fail_calc",
        "store_failures",
        "store_failures_as",
        "meta",
        "database",
        "schema",
        "alias",
    }
)
#: never fold a long line (a description) into several
_NO_WRAP = 1_000_000
_FIX_HINT = "fix the YAML by hand (indentation, a missing ':', an unclosed quote or bracket), then retry"


# --- reading ------------------------------------------------------------------------------------------


class _Yaml11Resolver(VersionedResolver):
    """YAML 1.1 scalar rules whatever the document says, because dbt reads with PyYAML (YAML 1.1)."""

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None) -> None:
        super().__init__(version=(1, 1), loader=loader, loadumper=loadumper)


def _loader() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml11Resolver
    return yaml


def _error_line(exc: YAMLError) -> str:
    mark = (exc.problem_mark or exc.context_mark) if isinstance(exc, MarkedYAMLError) else None
    return f" at line {mark.line + 1}" if mark is not None else ""


_Pair = tuple[Node, Node]


@dataclass
class _Document:
    """A parsed file: its text, its node tree (with positions) and the plain data of any node."""

    text: str
    where: str
    root: Node | None
    _yaml: YAML
    #: each mapping's pairs as written; building plain data rewrites a mapping's pairs in place to
    #: apply merge keys (``<<: *x`` is dropped, the merged pairs put in front)
    _written: dict[int, list[_Pair]]
    #: ids of the nodes written inside a flow collection, where new text must be flow style too
    _in_flow: set[int]

    @classmethod
    def parse(cls, text: str, where: str) -> _Document:
        yaml = _loader()
        try:
            root = yaml.compose(text)
            nodes = list(_walk(root))
            written = {id(n): list(n.value) for n in nodes if isinstance(n, MappingNode)}
            in_flow = {id(c) for n in nodes if _is_collection(n) and n.flow_style for c in _children(n)}
            if root is not None:
                # builds (and caches) the plain data of every node; duplicate keys fail here
                yaml.constructor.construct_object(root, deep=True)
        except YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise InvalidArguments(
                f"{where} is not valid YAML{_error_line(exc)}: {problem}", hint=_FIX_HINT
            ) from exc
        return cls(text, where, root, yaml, written, in_flow)

    def in_flow(self, node: Node) -> bool:
        return id(node) in self._in_flow

    def pairs(self, node: MappingNode) -> list[_Pair]:
        """The mapping's pairs as they are written, a merge key (``<<``) included."""
        return self._written[id(node)]

    def own(self, node: MappingNode) -> dict[str, tuple[ScalarNode, Node]]:
        """The pairs the mapping writes itself, by key (not the merge key)."""
        return {
            k.value: (k, v)
            for k, v in self.pairs(node)
            if isinstance(k, ScalarNode) and k.tag != "tag:yaml.org,2002:merge"
        }

    def plain(self, node: Node) -> Any:
        """The node as dbt reads it (dict/list/str/...), merge keys (``<<``) applied."""
        return self._yaml.constructor.construct_object(node, deep=True)

    def line(self, node: Node) -> int:
        return int(node.start_mark.line) + 1

    def mapping_root(self) -> MappingNode:
        if not isinstance(self.root, MappingNode):
            line = f" (line {self.line(self.root)})" if self.root is not None else ""
            raise InvalidArguments(
                f"{self.where} does not hold a YAML mapping at the top level{line}",
                hint="a properties file starts with keys such as `version: 2` and `models:`",
            )
        return self.root

    def section(self, section: str) -> tuple[ScalarNode, Node] | None:
        """The ``section:`` key of the top-level mapping and its value."""
        return self.own(self.mapping_root()).get(section)

    def find_item(self, section: str, key: str, value: Any) -> MappingNode | None:
        """The first mapping in the ``section`` list whose ``key`` is ``value``."""
        found = self.section(section)
        if found is None or _is_empty(found[1]):
            return None
        items = found[1]
        if not isinstance(items, SequenceNode):
            raise InvalidArguments(
                f"{section} in {self.where} (line {self.line(items)}) is not a list",
                hint=f"write it as a list of entries: `{section}:` then `  - {key}: ...`",
            )
        for item in items.value:
            if isinstance(item, MappingNode):
                data = self.plain(item)
                if isinstance(data, dict) and data.get(key) == value:
                    return item
        return None


def _is_empty(node: Node) -> bool:
    """``key:`` with nothing after it (null written as nothing)."""
    return isinstance(node, ScalarNode) and node.value == "" and node.style is None


def _is_collection(node: Node) -> TypeGuard[MappingNode | SequenceNode]:
    return isinstance(node, MappingNode | SequenceNode)


def _aliases(items: SequenceNode) -> list[bool]:
    """Which items are aliases (``- *name``). An alias's marks are its anchor's, which comes earlier
    in the file, so an item that does not start after everything before it is one."""
    floor = int(items.start_mark.index)
    flags = []
    for item in items.value:
        flags.append(item.start_mark.index <= floor)
        floor = max(floor, int(item.start_mark.index))
    return flags


def _is_block(node: Node) -> bool:
    return _is_collection(node) and not node.flow_style


def read_section_item(
    text: str | None, section: str, value: Any, where: str, *, key: str = "name"
) -> dict[str, Any] | None:
    """The item of the top-level ``section`` list whose ``key`` is ``value``, as plain data, or None."""
    if text is None or not text.strip():
        return None
    document = _Document.parse(text, where)
    if document.root is None:
        return None
    node = document.find_item(section, key, value)
    return None if node is None else copy.deepcopy(dict(document.plain(node)))


def read_entry(text: str | None, kind: PropertyKind, name: str, where: str) -> dict[str, Any] | None:
    """The ``kind`` entry called ``name`` in a properties file, as plain data, or None."""
    return read_section_item(text, kind, name, where)


# --- rendering new text -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How a file indents, measured on its own block collections."""

    #: a nested mapping's keys, right of its parent key
    mapping: int = 2
    #: a list's dash, right of its parent key (0 when the dash sits under the key)
    offset: int = 2
    #: an item's content, right of its dash (``- name`` is 2)
    item: int = 2
    newline: str = "\n"


class _FlowRepresenter(SafeRepresenter):
    """Plain data on one line; a subclass so that ruamel's shared SafeRepresenter stays as is."""


class _BlockRepresenter(SafeRepresenter):
    """Plain data in block style; multi-line text as a ``|`` block, as codegen writes it (ruamel would
    emit a ``|`` block inside a flow collection too, which is invalid, hence two representers)."""


def _represent_str(representer: SafeRepresenter, value: str) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockRepresenter.add_representer(str, _represent_str)


def _dump(value: Any, layout: _Layout, *, flow: bool) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml11Resolver
    yaml.Representer = _FlowRepresenter if flow else _BlockRepresenter
    yaml.default_flow_style = flow
    yaml.width = _NO_WRAP
    yaml.allow_unicode = True
    # keys in the entry's order (ruamel annotates this setting as None-only)
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # [unique, {relationships: {...}}]
    yaml.indent(mapping=layout.mapping, sequence=layout.offset + layout.item, offset=layout.offset)
    stream = io.StringIO()
    yaml.dump(value, stream)
    return stream.getvalue()


def _flow(value: Any, layout: _Layout) -> str:
    """``value`` on one line, for a flow list or mapping: ``unique``, ``{to: ref('a'), field: id}``."""
    return _dump([value], layout, flow=True).strip()[1:-1]


def _moved(text: str, column: int) -> list[str]:
    """Lines of block YAML shifted so that the least indented one starts at ``column``."""
    lines = text.splitlines()
    margin = min(len(line) - len(line.lstrip(" ")) for line in lines if line.strip())
    return [" " * column + line[margin:] if line.strip() else "" for line in lines]


def _after_key(value: Any, layout: _Layout, key_column: int) -> tuple[str, list[str]]:
    """What follows ``key:`` for ``value``: the rest of the key's line, and the lines below it."""
    first, *rest = _dump({"k": value}, layout, flow=False).splitlines()
    return first[len("k:") :], [" " * key_column + line if line else "" for line in rest]


# --- layout and style detection -----------------------------------------------------------------------


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, SequenceNode) else []


def _walk(root: Node | None) -> Iterator[Node]:
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: its anchor was walked already
            continue
        seen.add(id(node))
        yield node
        stack.extend(_children(node))


def _detect_layout(document: _Document) -> _Layout:
    mapping: Counter[int] = Counter()
    offset: Counter[int] = Counter()
    item: Counter[int] = Counter()
    for node in _walk(document.root):
        if isinstance(node, MappingNode) and not node.flow_style:
            for key, value in document.pairs(node):
                if isinstance(value, MappingNode) and _is_block(value) and document.pairs(value):
                    first_key = document.pairs(value)[0][0]
                    mapping[first_key.start_mark.column - key.start_mark.column] += 1
                elif isinstance(value, SequenceNode) and _is_block(value) and value.value:
                    offset[value.start_mark.column - key.start_mark.column] += 1
        elif isinstance(node, SequenceNode) and _is_block(node) and node.value:
            item[node.value[0].start_mark.column - node.start_mark.column] += 1
    defaults = _Layout()
    return _Layout(
        mapping=mapping.most_common(1)[0][0] if mapping else defaults.mapping,
        offset=offset.most_common(1)[0][0] if offset else defaults.offset,
        item=max(2, item.most_common(1)[0][0]) if item else defaults.item,
        newline="\r\n" if "\r\n" in document.text else "\n",
    )


@dataclass(frozen=True)
class TestStyle:
    """How a project writes data tests: the key of a test list, and where generic test arguments go."""

    key: TestKey = "data_tests"
    #: ``accepted_values: {arguments: {values: [...]}}`` (dbt 1.10+) rather than ``{values: [...]}``
    arguments: bool = True


def _test_lists(data: Any) -> Iterator[tuple[str, list[Any]]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in TEST_KEYS and isinstance(value, list):
                yield key, value
            else:
                yield from _test_lists(value)
    elif isinstance(data, list):
        for value in data:
            yield from _test_lists(value)


def detect_test_style(texts: Iterable[str]) -> TestStyle:
    """The project's test style, by majority over its YAML files (unreadable files are skipped).

    No evidence gives dbt 1.10+ style (``data_tests``, ``arguments:``), what codegen writes.
    """
    keys: Counter[str] = Counter()
    nested: Counter[bool] = Counter()
    for text in texts:
        try:
            data = _loader().load(text)
        except YAMLError:
            continue
        for key, tests in _test_lists(data):
            keys[key] += 1
            for test in tests:
                body = _test_body(test)
                if "arguments" in body:
                    nested[True] += 1
                elif any(k not in _TEST_PROPERTIES for k in body):
                    nested[False] += 1
    return TestStyle(
        key="tests" if keys["tests"] > keys["data_tests"] else "data_tests",
        arguments=nested[True] >= nested[False],
    )


def _test_body(test: Any) -> dict[str, Any]:
    """``{"values": [...]}`` for ``{"accepted_values": {"values": [...]}}``; {} for ``"unique"``."""
    if isinstance(test, Mapping) and len(test) == 1:
        body = next(iter(test.values()))
        if isinstance(body, Mapping):
            return dict(body)
    return {}


def _restyle_test(test: Any, arguments: bool) -> Any:
    if not isinstance(test, Mapping) or len(test) != 1 or not isinstance(next(iter(test.values())), Mapping):
        return test
    kind, body = next(iter(test.items()))
    if arguments:
        args = {k: v for k, v in body.items() if k not in _TEST_PROPERTIES}
        if "arguments" in body or not args:
            return {kind: dict(body)}
        return {kind: {"arguments": args, **{k: v for k, v in body.items() if k in _TEST_PROPERTIES}}}
    nested = body.get("arguments")
    if not isinstance(nested, Mapping):
        return {kind: dict(body)}
    return {kind: {**nested, **{k: v for k, v in body.items() if k != "arguments"}}}


def apply_test_style(entry: Mapping[str, Any], style: TestStyle) -> dict[str, Any]:
    """A copy of ``entry`` (a model/seed/snapshot entry, or a source with ``tables``) whose test lists,
    its own and its columns', use the project's key and argument nesting."""
    restyled: dict[str, Any] = {}
    for key, value in entry.items():
        if key in TEST_KEYS and isinstance(value, list):
            tests = [_restyle_test(t, style.arguments) for t in value]
            restyled[style.key] = [*restyled.get(style.key, []), *tests]
        elif key in ("columns", "tables") and isinstance(value, list):
            restyled[key] = [apply_test_style(v, style) if isinstance(v, Mapping) else v for v in value]
        else:
            restyled[key] = value
    return restyled


# --- comparing ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Fresh dicts and lists (no shared objects, so nothing is written as an &anchor)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(old: Any, new: Any) -> bool:
    """Equal as data; text is compared without surrounding whitespace, because a folded ``>`` or
    literal ``|`` description reads with a trailing newline that callers commonly strip."""
    if isinstance(old, str) and isinstance(new, str):
        return old.strip() == new.strip()
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(o, n) for o, n in zip(old, new, strict=True))
    return isinstance(old, bool) == isinstance(new, bool) and bool(old == new)


def _test_identity(test: Any) -> tuple[str, Any]:
    """A test as dbt sees it: ``unique`` = ``{unique: {}}``, arguments nested or not."""
    if isinstance(test, str):
        return test, {}
    if isinstance(test, Mapping) and len(test) == 1:
        kind, body = next(iter(test.items()))
        if body is None:
            return str(kind), {}
        if isinstance(body, Mapping):
            nested = body.get("arguments")
            flat = {k: v for k, v in body.items() if k != "arguments"}
            return str(kind), {**flat, **(nested if isinstance(nested, Mapping) else {})}
    return "", test


# --- editing ------------------------------------------------------------------------------------------


class _Editor:
    """Collects splices against the original text of one document, then applies them at once."""

    def __init__(self, document: _Document) -> None:
        self.doc = document
        self.text = document.text
        self.layout = _detect_layout(document)
        self._edits: list[tuple[int, int, str]] = []

    def result(self) -> str:
        parts: list[str] = []
        position = 0
        # stable sort: splices at one position keep the order they were made in, inner ones first
        for start, end, new in sorted(self._edits, key=lambda edit: edit[0]):
            if start < position:
                raise AssertionError(f"overlapping YAML edits at {start} in {self.doc.where}")
            parts += [self.text[position:start], new]
            position = end
        parts.append(self.text[position:])
        return "".join(parts)

    # positions

    def _line_end(self, index: int) -> int:
        newline = self.text.find("\n", index)
        return len(self.text) if newline < 0 else newline + 1

    def _line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def _colon_end(self, key: Node) -> int:
        index = int(key.end_mark.index)
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        return index + 1 if index < len(self.text) and self.text[index] == ":" else int(key.end_mark.index)

    def _back_over_space(self, index: int) -> int:
        while index > 0 and self.text[index - 1] in " \t\r\n":
            index -= 1
        return index

    def _content_end(self, node: Node) -> int:
        """Just after the last character that belongs to ``node`` (not the comments or blank lines
        after it, which a block collection's end mark includes)."""
        if isinstance(node, MappingNode) and _is_block(node) and self.doc.pairs(node):
            return self._pair_end(*self.doc.pairs(node)[-1])
        if isinstance(node, SequenceNode) and _is_block(node) and node.value:
            if _aliases(node)[-1]:  # `- *name`: nothing marks where it ends but the list's end
                return self._back_over_space(int(node.end_mark.index))
            return self._content_end(node.value[-1])
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            # a block scalar's end mark is past its trailing blank lines
            return self._back_over_space(int(node.end_mark.index))
        if _is_empty(node):  # its marks are the next token's
            return self._back_over_space(int(node.start_mark.index))
        return int(node.end_mark.index)

    def _pair_end(self, key: Node, value: Node) -> int:
        colon = self._colon_end(key)
        if _is_empty(value):
            return colon
        if value.start_mark.index < key.end_mark.index:  # `key: *name`: the marks are the anchor's
            index = colon
            while index < len(self.text) and self.text[index] in " \t":
                index += 1
            while index < len(self.text) and self.text[index] not in " \t\r\n,]}":
                index += 1
            return index
        return self._content_end(value)

    def _flow_end(self, node: MappingNode | SequenceNode) -> tuple[int, str]:
        """Where to add to a flow collection (before its closing bracket), and the separator to use."""
        at = self._back_over_space(int(node.end_mark.index) - 1)
        before = self.text[at - 1]
        opening = "{" if isinstance(node, MappingNode) else "["
        return at, "" if before == opening else " " if before == "," else ", "

    def _blank_separated(self, items: SequenceNode) -> bool:
        """Whether most items of a block list have a blank line between them."""
        aliases = _aliases(items)
        gaps = [
            self.text[self._line_end(self._content_end(a)) : b.start_mark.index].split("\n")[:-1]
            for (a, alias_a), (b, alias_b) in itertools.pairwise(zip(items.value, aliases, strict=True))
            if not (alias_a or alias_b)
        ]
        blank = sum(any(not line.strip() for line in gap) for gap in gaps)
        return bool(gaps) and blank * 2 >= len(gaps)

    def _check_editable(self, node: Node) -> None:
        if node.anchor is not None:
            raise InvalidArguments(
                f"{self.doc.where} line {self.doc.line(node)}: the part to change is shared through the "
                f"YAML anchor &{node.anchor}, so changing it would change every place that uses it",
                hint="edit that part by hand",
            )

    # splices

    def _splice(self, start: int, end: int, new: str) -> None:
        if start == len(self.text) and self.text and not self.text.endswith("\n"):
            new = "\n" + new
        self._edits.append((start, end, new.replace("\n", self.layout.newline)))

    def _lines(self, lines: Iterable[str]) -> str:
        return "".join(line + "\n" for line in lines)

    def replace(self, key: ScalarNode, value: Node, new: Any, *, keep_flow: bool = True) -> None:
        """Put ``new`` where ``value`` is, keeping ``key:``, a comment after it, and a flow style."""
        self._check_editable(value)
        colon = self._colon_end(key)
        end = self._pair_end(key, value)
        if self.doc.in_flow(value):  # `{name: a, description: old}`: only flow text fits
            start, space = (colon, " ") if _is_empty(value) else (int(value.start_mark.index), "")
            self._splice(start, end, space + _flow(new, self.layout))
            return
        if keep_flow and _is_collection(value) and value.flow_style and isinstance(new, dict | list):
            self._splice(value.start_mark.index, end, _flow(new, self.layout))
            return
        head, below = _after_key(new, self.layout, key.start_mark.column)
        if not below:  # one line: `key: value`
            if _is_empty(value) or _is_block(value):
                self._splice(colon, end, head)
            else:
                self._splice(value.start_mark.index, end, head.lstrip(" "))
        elif _is_block(value) and not head:  # a block list or mapping for another: swap whole lines
            self._splice(self._line_start(value.start_mark.index), self._line_end(end), self._lines(below))
        else:
            # a comment after the old value would end up inside a `|` block: keep it on the key's line
            rest = self.text[end : self._line_end(end)].rstrip("\r\n")
            comment = rest if rest.strip().startswith("#") else ""
            self._splice(colon, end + len(comment), head + comment + "\n" + "\n".join(below))

    def extend(self, key: ScalarNode, items_node: Node, items: Sequence[Any]) -> None:
        """Append ``items`` to the list under ``key`` (or make one where the value is empty)."""
        if not items:
            return
        if not isinstance(items_node, SequenceNode):
            if not _is_empty(items_node):
                raise InvalidArguments(
                    f"{key.value} in {self.doc.where} (line {self.doc.line(items_node)}) is not a list",
                    hint=f"write it as a list: `{key.value}:` then one `- item` per line",
                )
            self.replace(key, items_node, list(items))
            return
        self._check_editable(items_node)
        if items_node.flow_style:
            if not items_node.value and any(isinstance(item, dict | list) for item in items):
                self.replace(key, items_node, list(items), keep_flow=False)  # `[]` gets a block list
            else:
                at, separator = self._flow_end(items_node)
                self._splice(at, at, separator + ", ".join(_flow(item, self.layout) for item in items))
            return
        at = self._line_end(self._content_end(items_node))
        gap = "\n" if self._blank_separated(items_node) else ""
        dash = int(items_node.start_mark.column)
        text = "".join(gap + self._lines(_moved(_dump([i], self.layout, flow=False), dash)) for i in items)
        self._splice(at, at, text)

    def add_pairs(self, node: MappingNode, pairs: Sequence[tuple[str, Any]], order: Sequence[str]) -> None:
        """Add keys to a mapping, each after the nearest key that precedes it in ``order``."""
        if not pairs:
            return
        self._check_editable(node)
        if node.flow_style:
            at, separator = self._flow_end(node)
            self._splice(at, at, separator + _flow(dict(pairs), self.layout)[1:-1])
            return
        written = self.doc.pairs(node)  # a block mapping has at least one
        keys = [k.value for k, _ in written]
        groups: dict[int, dict[str, Any]] = {}
        for name, value in pairs:
            before = order[: order.index(name)] if name in order else order
            anchor = max((keys.index(b) for b in before if b in keys), default=len(keys) - 1)
            groups.setdefault(anchor, {})[name] = value
        column = int(written[0][0].start_mark.column)
        for anchor, group in groups.items():
            at = self._line_end(self._pair_end(*written[anchor]))
            self._splice(at, at, self._lines(_moved(_dump(group, self.layout, flow=False), column)))

    def replace_item(self, node: Node, new: Any) -> None:
        """Put ``new`` in place of the list item ``node``: its dash, a comment after its first line
        and the items around it stay as they are; a flow item gets flow text."""
        self._check_editable(node)
        start, end = int(node.start_mark.index), self._content_end(node)
        if self.doc.in_flow(node) or not _is_block(node):
            self._splice(start, end, _flow(new, self.layout))
            return
        lines = _moved(_dump(new, self.layout, flow=False), int(node.start_mark.column))
        lines[0] = lines[0].lstrip(" ") + self._first_line_comment(node)
        self._splice(start, end, "\n".join(lines))

    def _first_line_comment(self, node: Node) -> str:
        """`` # why`` after the first pair of a block mapping, on its line (else "")."""
        if not isinstance(node, MappingNode) or not self.doc.pairs(node):
            return ""
        after = self._pair_end(*self.doc.pairs(node)[0])
        rest = self.text[after : self._line_end(after)].rstrip("\r\n")
        return rest if rest.strip().startswith("#") else ""

    def add_section(self, section: str, items: list[Any]) -> None:
        """A new top-level ``section:`` at the end of the file, after a blank line."""
        root = self.doc.mapping_root()
        if root.flow_style:
            self.add_pairs(root, [(section, items)], [])
            return
        blank = "" if self.text.endswith("\n\n") else "\n"
        lines = _moved(_dump({section: items}, self.layout, flow=False), 0)
        self._splice(len(self.text), len(self.text), blank + self._lines(lines))

    def merge_entry(self, node: MappingNode, entry: Mapping[str, Any]) -> None:
        """Bring ``node`` up to ``entry`` with the fewest changes (see the module docstring)."""
        self._check_editable(node)
        own = self.doc.own(node)
        current = self.doc.plain(node)
        missing: list[tuple[str, Any]] = []
        for key, value in entry.items():
            if key in TEST_KEYS and isinstance(value, list):
                tests_key = next((k for k in (key, *TEST_KEYS) if k in own), None)
                if tests_key is not None:
                    # new tests join the list the column already has, whatever key the entry uses
                    self._merge_tests(*own[tests_key], value)
                    continue
            if key in current and _same(current[key], value):
                continue
            if key not in own:
                missing.append((key, value))
                continue
            key_node, value_node = own[key]
            if key in _NAMED_LISTS and isinstance(value_node, SequenceNode) and isinstance(value, list):
                self._merge_named(key_node, value_node, value)
            else:
                self.replace(key_node, value_node, value)
        self.add_pairs(node, missing, list(entry))

    def _merge_tests(self, key: ScalarNode, tests_node: Node, tests: list[Any]) -> None:
        have = self.doc.plain(tests_node)
        known = [_test_identity(t) for t in have] if isinstance(have, list) else []
        new: list[Any] = []
        for test in tests:
            identity = _test_identity(test)
            if identity not in known:
                new.append(test)
                known.append(identity)
        self.extend(key, tests_node, new)

    def _merge_named(self, key: ScalarNode, items_node: SequenceNode, items: list[Any]) -> None:
        self._check_editable(items_node)
        names = [item["name"] for item in items if isinstance(item, dict) and "name" in item]
        twice = sorted({str(name) for name in names if names.count(name) > 1})
        if twice:
            raise InvalidArguments(
                f"the new {key.value} for {self.doc.where} list {', '.join(twice)} more than once",
                hint="give each name once",
            )
        existing = [(node, self.doc.plain(node)) for node in items_node.value]
        new: list[Any] = []
        for item in items:
            match = next(
                (
                    node
                    for node, data in existing
                    if isinstance(node, MappingNode)
                    and isinstance(item, dict)
                    and isinstance(data, dict)
                    and "name" in item
                    and data.get("name") == item["name"]
                ),
                None,
            )
            if match is not None:
                self.merge_entry(match, item)
            elif not any(_same(data, item) for _, data in existing):
                new.append(item)
        self.extend(key, items_node, new)


# --- public edits -------------------------------------------------------------------------------------


def upsert_section_item(
    text: str | None,
    section: str,
    item: Mapping[str, Any],
    where: str,
    *,
    key: str = "name",
    header: Mapping[str, Any] | None = None,
) -> str:
    """The file with ``item`` in its top-level ``section`` list, matched on ``item[key]``: merged into
    the item that has it, else appended (the section is created if missing).

    A missing or empty file becomes ``header`` + the section, in codegen's style (``dump_yaml``).
    """
    new = _plain(item)
    if text is None or not text.strip():
        return dump_yaml({**(header or {}), section: [new]})
    document = _Document.parse(text, where)
    if document.root is None:  # only comments: keep them above the new document
        return text + ("" if text.endswith("\n") else "\n") + dump_yaml({**(header or {}), section: [new]})
    editor = _Editor(document)
    found = document.section(section)
    existing = document.find_item(section, key, new[key])
    if found is None:
        editor.add_section(section, [new])
    elif existing is None:
        editor.extend(found[0], found[1], [new])
    else:
        editor.merge_entry(existing, new)
    return editor.result()


def upsert_entry(text: str | None, kind: PropertyKind, entry: Mapping[str, Any], where: str) -> str:
    """The properties file with ``entry`` merged into the same-named ``kind`` entry, or appended.

    For a source, pass ``{"name": ..., "tables": [...]}`` to add or update tables and leave the
    source's own keys alone (``upsert_source_tables`` does that).
    """
    return upsert_section_item(text, kind, entry, where, header={"version": 2})


def upsert_source_tables(
    text: str | None, source: Mapping[str, Any], tables: Sequence[Mapping[str, Any]], where: str
) -> str:
    """Declare ``tables`` in the source named ``source["name"]``: merged into its tables when the
    source exists (its own keys untouched), else a new source ``{**source, "tables": tables}``."""
    name = source["name"]
    exists = read_entry(text, "sources", name, where) is not None
    entry = {"name": name, "tables": list(tables)} if exists else {**source, "tables": list(tables)}
    return upsert_entry(text, "sources", entry, where)


def replace_section_item(
    text: str, section: str, matches: Callable[[Any], bool], new: Mapping[str, Any], where: str
) -> tuple[str, Any]:
    """The file with the first item of its top-level ``section`` list that ``matches`` (its plain
    data) replaced by ``new``, and that item's data (None, and the text unchanged: none matched)."""
    if not text.strip():
        return text, None
    document = _Document.parse(text, where)
    found = document.section(section) if document.root is not None else None
    if found is None or not isinstance(found[1], SequenceNode):
        return text, None
    for item in found[1].value:
        data = document.plain(item)
        if matches(data):
            editor = _Editor(document)
            editor.replace_item(item, _plain(new))
            return editor.result(), copy.deepcopy(data)
    return text, None


def add_local_package(text: str | None, path: str, where: str = "packages.yml") -> tuple[str, bool]:
    """``packages.yml`` with a ``- local: path`` item, and whether it was added (False: already listed)."""
    if read_section_item(text, "packages", path, where, key="local") is not None:
        return text or "", False
    return upsert_section_item(text, "packages", {"local": path}, where, key="local"), True
