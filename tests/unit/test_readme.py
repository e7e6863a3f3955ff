"""The README's commands and tables are the code's: they cannot drift apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from idp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"^    \$ (.+)$", README, re.MULTILINE)


def _block(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", README, re.DOTALL)
    assert match, f"README lacks the {name} block"
    return match.group(1).strip()


def test_readme_starts_with_the_two_commands():
    run, test = _commands()[:2]
    assert "psc-mock serve" in run
    assert "pytest" in test
    first_lines = README.split("\n## ")[0]
    assert run in first_lines and test in first_lines


def test_ci_runs_the_readme_test_command_exactly():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _commands()[1] in ci


def test_settings_table_is_generated_from_settings():
    assert _block("settings") == Settings.markdown_table(), (
        "regenerate with: psc-mock settings --markdown"
    )


def test_identity_table_is_generated_from_fixtures():
    listing = subprocess.run(
        [sys.executable, "-m", "idp", "directory", "list", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert _block("identities") == listing.stdout.strip(), (
        "regenerate with: psc-mock directory list --markdown"
    )
