"""The README stays true: its op reference is what the code registers, and its commands are what CI runs."""

import importlib.util
import re

from conftest import REPO


def load_op_docs():
    spec = importlib.util.spec_from_file_location("op_docs", REPO / "tools" / "op_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_op_reference_matches_the_registry():
    op_docs = load_op_docs()
    readme = (REPO / "README.md").read_text()
    assert op_docs.section(readme) == op_docs.render(), "run: python tools/op_docs.py --write"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)
    assert len(commands) == 2, "the README's two commands: run the demo, run the tests"
    test_command = commands[1]
    assert test_command in (REPO / ".ci" / "run").read_text()
    # The script runs the suite itself, not a subset.
    assert "python -m pytest -q" in (REPO / test_command.split()[0]).read_text()
