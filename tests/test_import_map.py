"""The package's import map (tools/import_map.py): no import circle, and at most 4 imports that run back up a
layer, each justified where it is made (issue 20)."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_map.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("import_map", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_circle_and_at_most_four_justified_upward_imports():
    tool = load_tool()
    files, edges = tool.build()
    assert len(files) > 100 and len(edges) > 300  # the whole package was read
    assert tool.circles(files, edges) == []
    upward = tool.upward(edges)
    assert len(upward) <= 4, upward
    unjustified = [f"{a} -> {b} (line {line})" for a, b, line, justified in upward if not justified]
    assert unjustified == []
    assert tool.main(["--check"]) == 0


def test_the_tool_sees_a_circle_and_an_unjustified_upward_import(tmp_path, monkeypatch):
    """The check above can fail: on a tiny package with a circle and an unmarked upward import, it does."""
    tool = load_tool()
    package = tmp_path / "djlite"
    (package / "ops").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("from djlite.ops import base\n")
    (package / "ops" / "__init__.py").write_text("")
    (package / "ops" / "base.py").write_text("from djlite import errors\n")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "PACKAGE", package)
    files, edges = tool.build()
    assert tool.circles(files, edges) == [["djlite.errors", "djlite.ops.base"]]
    assert [(a, b, j) for a, b, _, j in tool.upward(edges)] == [("djlite.errors", "djlite.ops.base", False)]
    assert tool.main(["--check"]) == 1
    (package / "errors.py").write_text("# upward: a reason\nfrom djlite.ops import base\n")
    files, edges = tool.build()
    assert [j for *_, j in tool.upward(edges)] == [True]
