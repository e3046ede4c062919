"""`ae lint`: the guardrail lint over a whole project, and the baseline of debt it accepts."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ae --help` builds this command's parser and must not load the settings stack
    from agent.settings import Settings

HELP = "lint the whole project with ae's guardrail rules; --baseline accepts today's findings"
DESCRIPTION = """\
Parse the dbt project and run the guardrail lint (AE001...) on every model. Prints one line per
finding, `path:line: AEnnn severity message`, leaving out findings accepted in the project's
.ae-lint-baseline.json. Exits 1 when an error is not in the baseline, 0 otherwise.

--baseline writes every current finding to .ae-lint-baseline.json at the project root (commit it):
from then on neither `ae lint` nor a run's Validate phase fails on them, only on new findings.
"""

EXIT_OK = 0
EXIT_NEW_ERRORS = 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The lint's own flags (the project flags are the CLI's, shared by every command)."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="accept the current findings as existing debt: write them to .ae-lint-baseline.json",
    )


def run_lint(settings: Settings, *, accept: bool) -> int:
    # imported here so `ae --help` does not pay for the engine and sqlglot
    from tools.engine import DbtCall
    from tools.lint import LintConfig, LintReport, lint_project
    from tools.lint_baseline import BASELINE_FILE, read_baseline, write_baseline
    from tools.manifest import Manifest

    root = settings.project_dir
    config = LintConfig.from_mapping(settings.lint)
    with settings.open_engine() as engine:
        engine.invoke(DbtCall(command="parse"))
        manifest = Manifest.for_engine(engine)
    report = lint_project(manifest.raw, root, config=config)
    if accept:
        path = write_baseline(root, report.findings)
        print(
            f"ae lint: accepted {len(report.findings)} finding(s) as the baseline in {path}", file=sys.stderr
        )
        return EXIT_OK
    baseline = read_baseline(root)
    new = [f for f in report.findings if f.fingerprint not in baseline]
    if new:
        print(LintReport(findings=new).render_text())
    errors = sum(1 for f in new if f.severity == "error")
    summary = f"ae lint: {errors} error(s), {len(new) - errors} warning(s)"
    accepted = len(report.findings) - len(new)
    if accepted:
        summary += f"; {accepted} finding(s) accepted in {BASELINE_FILE} not shown"
    paid = len(baseline - {f.fingerprint for f in report.findings})
    if paid:
        summary += f"; {paid} baselined finding(s) are gone (run `ae lint --baseline` to drop them)"
    print(summary, file=sys.stderr)
    return EXIT_NEW_ERRORS if errors else EXIT_OK
