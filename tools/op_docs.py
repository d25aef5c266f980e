"""Print the README's op reference from the registry, or rewrite it in place with --write.

The README section between the `ops:start` and `ops:end` markers is generated from each op's signature
and docstring, and tests/test_readme.py fails when it drifts from the code.
"""

import inspect
import sys
from pathlib import Path

from djlite.ops.base import OP, Deduplicator, Filter, Mapper, Selector
from djlite.params import signature_params
from djlite.registry import OPERATORS, load_builtin_ops

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- ops:start -->", "<!-- ops:end -->"
COMMON = set(signature_params(OP)) | set(signature_params(Filter)) - {"any_or_all"}


def _kind(cls) -> str:
    for base, name in ((Filter, "filter"), (Mapper, "mapper"), (Deduplicator, "deduplicator"), (Selector, "selector")):
        if issubclass(cls, base):
            return name
    return "op"


def _default(value) -> str:
    if value is inspect.Parameter.empty:
        return "required"
    if value == sys.maxsize:
        return "sys.maxsize"
    return repr(value)


def render() -> str:
    load_builtin_ops()
    out = []
    for name in sorted(OPERATORS):
        cls = OPERATORS[name]
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
        out.append(f"### `{name}` ({_kind(cls)})\n")
        out.append(" ".join(doc[0].split()) + "\n")
        params = [(n, p) for n, p in signature_params(cls).items() if n not in COMMON]
        if params:
            out.append("| parameter | default |\n|---|---|")
            out.extend(f"| `{n}` | `{_default(p.default)}` |" for n, p in params)
            out.append("")
        stats = list(getattr(cls, "stats_features", {}))
        if stats:
            out.append("Stats: " + ", ".join(f"`{k}`" for k in stats) + "\n")
        for para in doc[1:]:
            out.append(" ".join(para.split()) + "\n")
    return "\n".join(out).rstrip() + "\n"


def section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip() + "\n"


def main() -> int:
    generated = render()
    if "--write" in sys.argv:
        text = README.read_text()
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(f"{head}{START}\n{generated}{END}{tail}")
    else:
        print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
