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
    """docs/ops.md is generated from the ops' signatures and docstrings; a change to either without
    regenerating the page fails here."""
    op_docs = load_op_docs()
    page = (REPO / "docs" / "ops.md").read_text()
    assert page == op_docs.page(), "run: python tools/op_docs.py --write"
    for name in op_docs.OPERATORS:
        assert f"## `{name}` (" in page, name


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)
    assert len(commands) == 2, "the README's two commands: run the demo, run the tests"
    test_command = commands[1]
    assert test_command in (REPO / ".ci" / "run").read_text()
    # The script runs the suite itself, not a subset.
    assert "python -m pytest -q" in (REPO / test_command.split()[0]).read_text()


def test_readme_says_what_the_diverse_selection_recipe_runs():
    """Issue 19 item 16: the README said the recipe runs on the shared corpus with 20 picks; it runs on the demo
    clips with 3 (the corpus run with 20 is tests/test_select_corpus.py's override). The section is now
    docs/clips-and-selection.md's."""
    import yaml

    recipe = yaml.safe_load((REPO / "recipes" / "diverse_selection.yaml").read_text())
    page = (REPO / "docs" / "clips-and-selection.md").read_text()
    intro = " ".join(page.split("## Diverse selection", 1)[1].split("```", 1)[0].split())
    select_num = recipe["process"][-1]["diversity_selector"]["select_num"]
    assert f"keeps the {select_num} most diverse" in intro
    assert recipe["dataset_path"].split("/")[0] in intro  # demo_data


def test_readme_points_at_nothing_outside_the_repository():
    """The house rules live in ../shared/DESIGN.md, which a user of the package does not have."""
    readme = (REPO / "README.md").read_text()
    assert "DESIGN.md" not in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert link.startswith(("http://", "https://")) or (REPO / link).exists(), link
