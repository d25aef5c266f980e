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


def pages() -> list:
    """The README and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text outside fenced code blocks (a `# comment` in a bash block is not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def links(page) -> list:
    return re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text()))


def anchors(page) -> set:
    op_docs = load_op_docs()
    return {op_docs.anchor(h) for h in re.findall(r"^#+ (.+)$", prose(page.read_text()), flags=re.M)}


def test_readme_points_at_nothing_outside_the_repository():
    """The house rules live in ../shared/DESIGN.md, which a user of the package does not have. Every link of the
    README and of the docs/ pages leads to a file of the repository (relative to the page) or to the web, and a
    link to a heading (`page.md#heading`, `#heading`) finds that heading."""
    for page in pages():
        assert "DESIGN.md" not in page.read_text(), page
        for link in links(page):
            if link.startswith(("http://", "https://")):
                continue
            path, _, fragment = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(REPO)}: {link}"
            assert target.exists(), where
            assert target == REPO or REPO in target.parents, where
            if fragment:
                assert target.suffix == ".md" and fragment in anchors(target), where


def test_readme_is_short_and_links_every_docs_page():
    """Issue 20: a README of at most 300 lines with a table of contents, the reference in docs/, every page of
    which the README (and the docs/ index) links to."""
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= 300
    contents = prose(readme.read_text()).split("## Contents", 1)[1].split("\n## ", 1)[0]
    sections = [h for h in re.findall(r"^## (.+)$", prose(readme.read_text()), flags=re.M) if h != "Contents"]
    op_docs = load_op_docs()
    for heading in sections:
        assert f"(#{op_docs.anchor(heading)})" in contents, f"the README's contents miss {heading!r}"
    docs = sorted((REPO / "docs").glob("*.md"))
    assert docs, "docs/ has pages"
    linked = {(REPO / link.partition("#")[0]).resolve() for link in links(readme)}
    index = REPO / "docs" / "README.md"
    indexed = {(index.parent / link.partition("#")[0]).resolve() for link in links(index)}
    for page in docs:
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(REPO)}"
        assert page == index or page.resolve() in indexed, f"docs/README.md does not link {page.name}"


def test_architecture_page_names_every_module():
    """docs/architecture.md is the map of the code: a module added without its line there, or a line left for a
    module that is gone, fails here."""
    page = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"^\| `(djlite/[\w/]+\.py)` \|", page, flags=re.M))
    modules = {str(p.relative_to(REPO)) for p in (REPO / "djlite").rglob("*.py")}
    assert modules - named == set(), "modules missing from docs/architecture.md"
    assert named - modules == set(), "docs/architecture.md names modules that do not exist"
    for path in set(re.findall(r"`(djlite/[\w/]+(?:\.py|/))`", page)):
        assert (REPO / path).exists(), path
