"""A project's accepted lint debt: ``.ae-lint-baseline.json`` at its root, committed with the project.

``ae lint --baseline`` writes the findings of the whole project as they are; from then on neither
``ae lint`` nor Validate fails on them, only on findings that are not listed. Entries are finding
fingerprints (rule, node, detail; never line numbers), sorted, one per line, so a diff of the file
reads as "this debt was paid / accepted".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tools.errors import ConfigurationError
from tools.lint import LintFinding

BASELINE_FILE = ".ae-lint-baseline.json"
FORMAT_VERSION = 1
_ABOUT = (
    "Lint findings accepted as existing debt: ae lint and ae's Validate phase do not fail on them. "
    "Regenerate with `ae lint --baseline`."
)


def parse_baseline(text: str, where: str = BASELINE_FILE) -> frozenset[str]:
    """The fingerprints listed in a baseline file's text; a clear error when it is not one."""
    hint = f"regenerate it with `ae lint --baseline`, or delete {BASELINE_FILE}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{where} is not valid JSON: {exc}", hint=hint) from exc
    findings = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(findings, list) or not all(isinstance(f, str) for f in findings):
        raise ConfigurationError(f"{where} must hold a 'findings' list of strings", hint=hint)
    if data.get("version") != FORMAT_VERSION:
        raise ConfigurationError(
            f"{where} has format version {data.get('version')!r}; this ae reads version {FORMAT_VERSION}",
            hint=hint,
        )
    return frozenset(findings)


def read_baseline(root: Path) -> frozenset[str]:
    """The accepted fingerprints of the project at ``root``; empty when it has no baseline file."""
    path = root / BASELINE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    return parse_baseline(text, str(path))


def render_baseline(findings: Iterable[LintFinding]) -> str:
    fingerprints = sorted({f.fingerprint for f in findings})
    document = {"version": FORMAT_VERSION, "about": _ABOUT, "findings": fingerprints}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_baseline(root: Path, findings: Iterable[LintFinding]) -> Path:
    """Accept ``findings`` as the project's debt, replacing any earlier baseline; returns the file."""
    path = root / BASELINE_FILE
    path.write_text(render_baseline(findings), encoding="utf-8")
    return path
