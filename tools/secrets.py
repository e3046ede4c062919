"""Secrets that live in the dbt profile: found at start-up, masked in every file the model reads.

``profiles.yml`` holds warehouse passwords, tokens and keys, either literally or through
``env_var('NAME')``. Each literal value and each referenced variable's value is registered with
``tools.logs.register_secret``, so ``redact`` removes it from progress lines, logs, reports and
tool results wherever it turns up (a connection error quoting a DSN, a compiled model). File text
shown to the model additionally has every secret-named YAML key's value replaced by ``'****'``,
which covers a profile that was never registered (another project's, one written this run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from tools.logs import get_logger, redact, register_secret

log = get_logger("ae.secrets")

MASK = "'****'"

# dbt adapters' secret fields: password/pass, token, private_key(_passphrase), secret(_key),
# client_secret, keyfile_json, ... (a `*_path` names a file, but masking a path costs nothing)
_SECRET_KEY = r"(?:pass|passwd|password|\w*_password|token|\w*_token|private_key\w*|secret\w*|\w*_secret)"
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)
_ENV_VAR = re.compile(r"env_var\(\s*['\"]([^'\"]+)['\"]")
#: an environment variable whose name says it is a secret, wherever the profile reads it
_SECRET_ENV_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY", re.IGNORECASE)
#: ``  password: value`` in YAML, also inside a diff line (leading + - or space) or a list item;
#: a value that is Jinja (``{{ env_var('PG_PASSWORD') }}``) names a variable, not a secret
_YAML_SECRET_LINE = re.compile(
    rf"^(?P<lead>[+\- ]?[ \t]*(?:-[ \t]+)?[\"']?{_SECRET_KEY}[\"']?[ \t]*:[ \t]*)"
    r"(?P<value>(?![\"']?\{\{)[^\s#][^\n]*?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def mask_secrets(text: str) -> str:
    """File text as the model may see it: secret YAML values masked, known secrets redacted."""
    return _YAML_SECRET_LINE.sub(lambda m: m.group("lead") + MASK, redact(text))


def register_profile_secrets(profiles_file: Path) -> int:
    """Register the profile's secret values; returns how many. Never fails: a profile that does not
    parse is dbt's error to report, and its secret-named lines are masked in file reads anyway."""
    try:
        data = yaml.safe_load(profiles_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("profile_secrets_unread", file=str(profiles_file), error=type(exc).__name__)
        return 0
    found: set[str] = set()
    _collect(data, "", found)
    for value in found:
        register_secret(value)
    return len(found)


def _collect(node: Any, key: str, found: set[str]) -> None:
    if isinstance(node, dict):
        for child_key, child in node.items():
            _collect(child, str(child_key), found)
    elif isinstance(node, list):
        for child in node:
            _collect(child, key, found)
    elif isinstance(node, str | int) and not isinstance(node, bool):
        text = str(node)
        secret_key = bool(_SECRET_KEY_RE.match(key))
        for name in _ENV_VAR.findall(text):
            if secret_key or _SECRET_ENV_NAME.search(name):
                found.add(os.environ.get(name, ""))
        if secret_key and "{{" not in text:
            found.add(text)
    found.discard("")
