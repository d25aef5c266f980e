"""Reading recipe YAML: YAML 1.2 core-schema scalars and a bound on what aliases may expand to.

PyYAML implements YAML 1.1, where an unquoted `4:3` is the base-60 integer 243, `yes`/`no`/`on`/`off` are
booleans and `2024-01-01` is a date. Data-Juicer recipes are written for YAML 1.2 intuitions, so the loader
resolves plain scalars as YAML 1.2's core schema does: `4:3`, `yes` and dates stay strings; numbers are
decimal, 0x.. or 0o.. integers and decimal or exponent floats (`1e3` is a float).

An alias bomb (a few lines whose aliases expand to billions of nodes) is refused before it is expanded.
"""

import re

import yaml

from djlite.errors import RecipeError

# A recipe is a few hundred nodes; a hundred thousand leaves room for big inline lists, not for a bomb.
MAX_EXPANDED_NODES = 100_000

_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_YAML11_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_YAML11_TAGS.add("tag:yaml.org,2002:timestamp")


class RecipeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and a bounded alias expansion."""

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 16) if text.startswith("0x") else int(text, 10)


def _construct_bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


RecipeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
RecipeLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _check_expansion(root) -> None:
    """Count the nodes the document expands to (shared nodes counted once per use), stopping early."""
    sizes: dict[int, int] = {}

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a recursive alias counts once rather than looping
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        if total > MAX_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"aliases expand to more than {MAX_EXPANDED_NODES} values (an alias bomb?); write the values out"
            )
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root)


def load_yaml(text: str):
    """Parse YAML text with the recipe loader (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


def yaml_error_message(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    return f"not valid YAML{where}: {getattr(e, 'problem', None) or e}"


def read_recipe_file(path: str) -> dict:
    """A recipe file as a dict, or a one-line RecipeError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RecipeError(f"cannot read recipe {path}: {e}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: {yaml_error_message(e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: a recipe is a mapping of keys (dataset_path, process, ...), got {type(data).__name__}"
        )
    return data
