"""The environment the dbt child process gets: the parent's, minus its secrets.

dbt runs the project's code (Jinja, Python models) with the child's environment, and that code may
be written by the model. So the child gets what dbt and the interpreter need, and not ae's own
secrets or other obvious credentials. The rule, in order:

1. ``ANTHROPIC_*`` and ``AE_*`` are dropped, always: ae's API keys and store URL; dbt never needs
   them, even if a profile asks (the agent could have written that profile).
2. ``DBT_*`` is kept (dbt's own settings, and ``DBT_ENV_SECRET_*``, dbt's convention for secrets it
   masks in its logs).
3. A variable that profiles.yml or dbt_project.yml reads with ``env_var('NAME')`` is kept: dbt
   needs it to connect.
4. Any other name that looks like a credential (``tools.secrets.looks_secret``, the one rule
   redaction uses too: ``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``, ...)
   is dropped, unless its value names an existing file or folder: that is where a credential lives
   (``GOOGLE_APPLICATION_CREDENTIALS``), which adapters find through the variable, not the secret.
5. Everything else is kept (PATH, HOME, LANG, TZ, PYTHON*, proxies, ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import jinja2
import yaml
from jinja2 import nodes

from tools.secrets import looks_secret

_ALWAYS_DROPPED = ("ANTHROPIC_", "AE_")
_ALWAYS_KEPT = ("DBT_",)


def env_var_names(text: str) -> set[str]:
    """Names read with ``env_var('NAME', ...)`` in a YAML file, as dbt sees them.

    dbt loads the YAML first and renders each string value as Jinja, so this does the same and
    reads the calls from each value's syntax tree (comments and plain text are not calls). A value
    or file dbt could not load either yields nothing; names built at render time
    (``env_var(prefix ~ 'X')``) cannot be known here.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    return {name for value in _strings(data) if "env_var" in value for name in _calls(value)}


def _strings(data: object) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)


def _calls(template: str) -> set[str]:
    try:
        tree = jinja2.Environment().parse(template)
    except jinja2.TemplateSyntaxError:
        return set()
    return {
        call.args[0].value
        for call in tree.find_all(nodes.Call)
        if isinstance(call.node, nodes.Name)
        and call.node.name == "env_var"
        and call.args
        and isinstance(call.args[0], nodes.Const)
        and isinstance(call.args[0].value, str)
    }


def referenced_names(files: Iterable[Path]) -> set[str]:
    """The ``env_var`` names of every readable file among ``files``."""
    names: set[str] = set()
    for path in files:
        try:
            names |= env_var_names(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue  # dbt reports an unreadable profile or project itself
    return names


def is_passed(name: str, value: str, referenced: set[str]) -> bool:
    """Whether the child sees variable ``name`` holding ``value`` (the module docstring's rule)."""
    upper = name.upper()
    if upper.startswith(_ALWAYS_DROPPED):
        return False
    if upper.startswith(_ALWAYS_KEPT) or name in referenced:
        return True
    return not looks_secret(name) or os.path.exists(value)


def child_environment(environ: Mapping[str, str], config_files: Iterable[Path]) -> dict[str, str]:
    """``environ`` filtered for the dbt child, with unbuffered output so its log lines arrive."""
    referenced = referenced_names(config_files)
    kept = {name: value for name, value in environ.items() if is_passed(name, value, referenced)}
    return {**kept, "PYTHONUNBUFFERED": "1"}
