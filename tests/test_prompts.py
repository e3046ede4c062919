"""The prompt files: one description per registered tool, a byte-stable system prompt, the repair template."""

from __future__ import annotations

import re

import pytest

from agent.loop import SUBMIT_PLAN
from tools import prompt_text
from tools.errors import ConfigurationError
from tools.lint import RULES
from tools.registry import builtin_registry

# a str.format field such as {project} or {0}; Jinja's {{ ... }} and {% ... %} are content, not fields
_FORMAT_FIELD = re.compile(r"(?<!\{)\{[A-Za-z0-9_]*\}(?!\})")
# anything that changes from run to run or day to day breaks the prompt cache
_VARIABLE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # ISO date
    r"|\b\d{1,2}:\d{2}\b"  # time of day
    r"|\b(?:19|20)\d{2}\b"  # a year
    r"|\b[0-9a-f]{12,}\b"  # hex run id or hash
)


def test_every_registered_tool_and_submit_plan_has_a_description() -> None:
    for name in builtin_registry().names():
        assert prompt_text.tool_text(name).description.strip(), f"prompts/tools/{name}.md is empty"
    assert prompt_text.load(SUBMIT_PLAN).strip()


def test_no_description_file_for_a_tool_that_does_not_exist() -> None:
    described = {path.stem for path in (prompt_text.PROMPTS_DIR / "tools").glob("*.md")}
    assert described - set(builtin_registry().names()) == set()


def test_tool_descriptions_stay_short() -> None:
    # 2-8 lines: the schema carries the parameters; the text says what, when, returns and limits
    for name in builtin_registry().names():
        lines = prompt_text.tool_text(name).description.strip().splitlines()
        assert 2 <= len(lines) <= 8, f"{name}: {len(lines)} lines"


def test_system_prompt_names_every_lint_rule_and_submit_plan() -> None:
    system = prompt_text.load("system")
    assert set(RULES) == {f"AE{n:03d}" for n in range(1, 15)}
    for rule_id, rule in RULES.items():
        assert f"{rule_id} {rule.title}" in system, f"{rule_id} missing or retitled"
    assert SUBMIT_PLAN in system


@pytest.mark.parametrize("name", ["system", "submit_plan"])
def test_cached_prompts_are_byte_stable(name: str) -> None:
    text = prompt_text.load(name)
    assert _FORMAT_FIELD.findall(text) == []
    assert _VARIABLE_TEXT.findall(text) == []


def test_tool_descriptions_are_byte_stable() -> None:
    for name in builtin_registry().names():
        text = prompt_text.tool_text(name).description
        assert _VARIABLE_TEXT.findall(text) == [], name


def test_system_prompt_stays_a_compact_prefix() -> None:
    assert len(prompt_text.load("system").split()) <= 1500


def test_render_repair_inserts_the_feedback_verbatim() -> None:
    feedback = "validate failed:\n- models/marts/fct_orders.sql:3: AE001 select * in {a mart}"
    message = prompt_text.render_repair(feedback)
    assert feedback in message
    assert SUBMIT_PLAN in message
    # the template's own text has no fields left over once the feedback is in
    assert _FORMAT_FIELD.findall(message.replace(feedback, "")) == []


def test_load_names_the_missing_file() -> None:
    with pytest.raises(ConfigurationError, match=r"no_such_tool\.md"):
        prompt_text.tool_text("no_such_tool")


def test_load_refuses_a_path_outside_the_prompts() -> None:
    with pytest.raises(ConfigurationError, match="not a prompt name"):
        prompt_text.load("../pyproject")
