"""The README stays true to the code: its options table is the params model's, its commands are the CI's."""

from __future__ import annotations

from pathlib import Path

from lib_dnp.docs import readme_block

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_options_table_matches_the_params_model():
    assert readme_block() in README, "regenerate with: python -m lib_dnp.docs"


def command_after(marker: str) -> str:
    lines = README.splitlines()
    at = lines.index(marker)
    assert lines[at + 1].startswith("```")
    return lines[at + 2]


def test_exactly_two_setup_commands():
    assert README.count("<!-- run-command -->") == 1 and README.count("<!-- test-command -->") == 1
    # CI runs .ci/run; the README's test command must be exactly that, so it can never promise less than CI proves.
    assert command_after("<!-- test-command -->") == "bash .ci/run"
    assert "python -m lib_dnp generate" in command_after("<!-- run-command -->")
