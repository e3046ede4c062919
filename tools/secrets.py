"""Secrets: found at start-up, masked in every file the model reads, scrubbed from dbt's output.

Two sources are registered with ``tools.logs.register_secret``, so ``redact`` removes their values
from progress lines, logs, reports, transcripts, tool results and errors wherever they turn up (a
connection error quoting a DSN, a compiled model):

- the environment: every variable whose name looks secret (``looks_secret``), whether or not a
  profile names it, since a project's dbt_project.yml or a model may read it with ``env_var``;
- ``profiles.yml``: each literal secret value and each variable it reads for a secret.

File text shown to the model additionally has every secret-named YAML key's value replaced by
``'****'``, which covers a profile that was never registered (another project's, one written this
run). dbt writes what it read into ``target/`` and ``logs/``; ``scrub_secret_files`` masks it there
after every run (graph/phases/finish.py).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.audit.file_audit import copy_folder
from tools.errors import ConfigurationError
from tools.logs import get_logger, known_secrets, redact, register_secret
from tools.manifest import target_dir
from tools.paths import STATE_DIR
from tools.profiles import load_yaml_mapping

log = get_logger("ae.secrets")

MASK = "'****'"

# dbt adapters' secret fields: password/pass, token, private_key(_passphrase), secret(_key),
# client_secret, keyfile_json, ... (a `*_path` names a file, but masking a path costs nothing)
_SECRET_KEY = r"(?:pass|passwd|password|\w*_password|token|\w*_token|private_key\w*|secret\w*|\w*_secret)"
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)
_ENV_VAR = re.compile(r"env_var\(\s*['\"]([^'\"]+)['\"]")
#: An environment variable whose name says it holds a credential. The one rule for what ae redacts
#: by value, what a profile's ``env_var`` reads as a secret, and what the dbt child is not given
#: (tools/engine/child_env.py): SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL anywhere; TOKEN,
#: KEY, PASS or APIKEY as a word between underscores (MY_API_TOKEN, ANTHROPIC_API_KEY, DB_PASS);
#: glued at the end, TOKEN or APIKEY (GITHUBTOKEN); MySQL's ``*_PWD``. Words, not substrings, so
#: PWD, OLDPWD, TOKENIZERS_PARALLELISM, KEYBOARD_* and TOX_TESTENV_PASSENV are not secrets.
#: (YAML keys in a profile have their own rule, _SECRET_KEY: a ``key`` there is dbt's unique_key.)
_SECRET_ENV_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL"
    r"|(?:^|_)(?:TOKEN|KEY|PASS|APIKEY)S?(?:_|$)"
    r"|TOKEN$|APIKEY$|_PWD$",
    re.IGNORECASE,
)
#: a secret-named variable's value shorter than this is not redacted by value: ``..._KEY=true``
#: would mask every "true" ae writes (a profile's own secrets keep register_secret's floor)
MIN_ENV_SECRET_LENGTH = 8
#: ``  password: value`` in YAML, also inside a diff line (leading + - or space) or a list item;
#: a value that is Jinja (``{{ env_var('PG_PASSWORD') }}``) names a variable, not a secret
_YAML_SECRET_LINE = re.compile(
    rf"^(?P<lead>[+\- ]?[ \t]*(?:-[ \t]+)?[\"']?{_SECRET_KEY}[\"']?[ \t]*:[ \t]*)"
    r"(?P<value>(?![\"']?\{\{)[^\s#][^\n]*?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def looks_secret(name: str) -> bool:
    """Whether environment variable ``name`` holds a credential, by its name (``_SECRET_ENV_NAME``)."""
    return bool(_SECRET_ENV_NAME.search(name))


def register_environment_secrets(environ: Mapping[str, str]) -> int:
    """Register the value of every secret-named variable in ``environ``; returns how many.

    Called once at start-up (agent/cli.py). A value that names an existing file or folder is a
    path (GOOGLE_APPLICATION_CREDENTIALS), not a secret: masking it would hide a folder in every
    message."""
    found = [
        value
        for name, value in environ.items()
        if looks_secret(name) and len(value) >= MIN_ENV_SECRET_LENGTH and not os.path.exists(value)
    ]
    for value in found:
        register_secret(value)
    return len(found)


def mask_secrets(text: str) -> str:
    """File text as the model may see it: secret YAML values masked, known secrets redacted."""
    return _YAML_SECRET_LINE.sub(lambda m: m.group("lead") + MASK, redact(text))


def register_profile_secrets(profiles_file: Path) -> int:
    """Register the profile's secret values; returns how many. Never fails: a profile that does not
    parse is dbt's error to report, and its secret-named lines are masked in file reads anyway."""
    try:
        data = load_yaml_mapping(profiles_file)
    except ConfigurationError as exc:
        log.warning("profile_secrets_unread", file=str(profiles_file), error=exc.message)
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
            if secret_key or looks_secret(name):
                found.add(os.environ.get(name, ""))
        if secret_key and "{{" not in text:
            found.add(text)
    found.discard("")


# --- dbt's output ----------------------------------------------------------------------------------


@dataclass
class Scrubbed:
    """What ``scrub_secret_files`` did: text files masked in place, binary files deleted."""

    masked: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"masked secret values in {len(self.masked)} file(s)"] if self.masked else []
        if self.deleted:
            parts.append(f"deleted {len(self.deleted)} binary file(s) holding one (dbt rewrites them)")
        return "; ".join(parts)


def dbt_output_files(project_dir: Path, target_path: str | None = None) -> Iterator[Path]:
    """The files dbt and ae's engine wrote what dbt read into: all of dbt's target folder (as the
    engine passes it, else DBT_TARGET_PATH, else ``target``) and the audit copy's, dbt's log files
    (DBT_LOG_PATH, else ``logs``) and the engine's logs in ``.ae/logs``. Links are not followed:
    the folders are the project's, and what a link points at is not."""
    # the audit copy's dbt target folder stays between runs (tools/audit/file_audit.py) and holds
    # what dbt read as much as the project's own
    for target in (target_dir(project_dir, target_path), copy_folder(project_dir) / "target"):
        for folder, _dirs, names in os.walk(target):
            yield from (Path(folder) / name for name in names)
    log_dir = project_dir / (os.environ.get("DBT_LOG_PATH") or "logs")
    yield from log_dir.glob("dbt.log*")
    yield from (project_dir / STATE_DIR / "logs").glob("engine-*.log")


def scrub_secret_files(files: Iterable[Path]) -> Scrubbed:
    """Mask every registered secret value in ``files``; a binary file that holds one (dbt's
    partial_parse.msgpack, graph.gpickle) is deleted instead, since masking could break its format
    and dbt regenerates it.

    A secret is masked by as many ``*`` as it has bytes, in place: JSON stays valid, and dbt.log
    keeps its size and inode (a rollback cuts it back to a byte offset, a running engine appends to
    it). Links and files with other hard links are left alone, never written through. A file that
    cannot be read or written is logged and skipped: the run's outcome does not depend on it."""
    needles = _needles(known_secrets())
    done = Scrubbed()
    if not needles:
        return done
    for path in files:
        try:
            _scrub(path, needles, done)
        except OSError as exc:
            log.warning("secret_scrub_failed", file=str(path), error=exc.strerror or str(exc))
    return done


def _needles(secrets: list[str]) -> list[bytes]:
    """Each secret as dbt may write it: raw, and escaped inside a JSON string."""
    forms = {
        form.encode("utf-8")
        for secret in secrets
        for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])
    }
    return sorted(forms, key=len, reverse=True)


def _scrub(path: Path, needles: list[bytes], done: Scrubbed) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return  # a link: what it points at is not dbt's output
        raise
    with os.fdopen(fd, "r+b") as handle:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:
            return
        data = handle.read()
        masked = data
        for needle in needles:
            masked = masked.replace(needle, b"*" * len(needle))
        if masked == data:
            return
        if not _is_binary(data):
            handle.seek(0)
            handle.write(masked)  # the same length: no truncation; the inode and its writers stay
            done.masked.append(path)
            return
    path.unlink()
    done.deleted.append(path)


def _is_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
