"""The package's import map: who imports whom inside djlite, the import circles, and the imports that run back up.

    python tools/import_map.py            # summary: modules, edges, circles, upward imports (with their lines)
    python tools/import_map.py --edges    # every edge, "a -> b (line)"
    python tools/import_map.py --check    # exit 1 if there is a circle or an unjustified upward import

An edge is any `import`/`from ... import` of a djlite module, at module level or inside a function (a lazy
import breaks a cycle at run time, not in the design, so it counts). A circle is a strongly connected
component of more than one module. Packages are ranked in LAYERS, lowest first; an import from a module to a
module of a higher layer "runs back up". An upward import is justified by a comment on the import line or the
line above it that starts with `# upward:` and says why.
"""

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "djlite"

# Lowest first. A module belongs to the first layer whose prefix matches its dotted name (longest prefix wins).
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundation",
        [
            "djlite.errors",
            "djlite.fields",
            "djlite.files",
            "djlite.interrupt",
            "djlite.jsonl_lines",
            "djlite.dj_op_names",
            "djlite.recipe_yaml",
            "djlite.run_paths",
        ],
    ),
    ("media", ["djlite.video", "djlite.embed", "djlite.ocr", "djlite.dedup", "djlite.select"]),
    ("ops", ["djlite.registry", "djlite.params", "djlite.ops"]),
    (
        "run",
        [
            "djlite.core",
            "djlite.recipe",
            "djlite.dataset",
            "djlite.stats_cache",
            "djlite.formats",
            "djlite.export",
            "djlite.exporter",
            "djlite.outputs",
            "djlite.output_set",
            "djlite.trace",
        ],
    ),
    ("executors", ["djlite.executors"]),
    ("api", ["djlite.api", "djlite.analysis"]),
    ("cli", ["djlite.cli", "djlite.__main__", "djlite"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, rank = -1, len(LAYERS) - 1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    return rank


def resolve(module: str, names: set[str], target: str) -> str:
    """The djlite module an import names: `from djlite.x import y` is module djlite.x.y when that exists."""
    if target in names:
        return target
    while target and target not in names:
        target = target.rsplit(".", 1)[0] if "." in target else ""
    return target


def imports(path: Path, module: str, names: set[str]):
    """(target module, line, justified) for every djlite import in the file."""
    source = path.read_text()
    lines = source.splitlines()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(source)):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for target in targets:
            if not target.startswith("djlite"):
                continue
            resolved = resolve(module, names, target)
            if not resolved or resolved == module:
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno >= 2 else ""
            justified = "# upward:" in here or above.strip().startswith("# upward:")
            yield resolved, node.lineno, justified


def build():
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    names = set(files)
    edges = {}
    for module, path in files.items():
        for target, line, justified in imports(path, module, names):
            # `import djlite.x` from inside djlite.x.y names its own package: not an edge of the design.
            if module.startswith(target + "."):
                continue
            edges.setdefault((module, target), (line, justified))
    return files, edges


def circles(modules, edges) -> list[list[str]]:
    graph = {m: [] for m in modules}
    for a, b in edges:
        graph[a].append(b)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            connect(v)
    return sorted(out)


def upward(edges):
    return sorted((a, b, line, justified) for (a, b), (line, justified) in edges.items() if layer_of(b) > layer_of(a))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge")
    parser.add_argument("--check", action="store_true", help="exit 1 on a circle or an unjustified upward import")
    args = parser.parse_args(argv)
    files, edges = build()
    if args.edges:
        for (a, b), (line, _) in sorted(edges.items()):
            print(f"{a} -> {b} ({files[a].relative_to(ROOT)}:{line})")
        return 0
    found = circles(files, edges)
    ups = upward(edges)
    print(f"modules: {len(files)}  edges: {len(edges)}  circles: {len(found)}  upward imports: {len(ups)}")
    for component in found:
        print("circle: " + " <-> ".join(component))
    for a, b, line, justified in ups:
        layer_a, layer_b = LAYERS[layer_of(a)][0], LAYERS[layer_of(b)][0]
        note = "justified" if justified else "NOT justified"
        print(f"upward: {a} ({layer_a}) -> {b} ({layer_b})  {files[a].relative_to(ROOT)}:{line}  [{note}]")
    if args.check and (found or any(not j for *_, j in ups)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
