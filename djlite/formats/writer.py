"""The export formats: `@register_writer("name")` on a Writer class, `writer_for(export_path, export_type)` to pick
one. A new format is one module that registers itself (every module under djlite/formats is imported before a
format is looked up; a format from elsewhere, such as a test's, registers when its module is imported).

A writer is one of two kinds, and says which (`kind`):
- `table` (`TableWriter`, djlite/formats/tables.py): the kept samples as rows of one file, `write(dataset, path)`.
  The run writes the stats file beside it and cuts shards (export_shard_size); under Ray every worker writes a
  part and the driver joins them with `concat(parts, path)` (bytes appended, by default: a line format), so the
  writer travels to the workers and its module must be importable there (on PYTHONPATH), as a custom op's is.
- `layout` (`Layout`, djlite/formats/layout.py): training records built from the samples and the frames of the
  recipe's own decode, with options from export_extra_args; written on the driver, `write(rows, export_path)`.

Names: `name` is the export_type; `suffix` is the extension of the writer's files, and an export path ending in it
picks the writer unless `claims_suffix` is false (yt8m writes .tfrecord, which names mediasequence); `shards` is
the naming scheme of its result shards (djlite/run_paths.py). Every file a writer writes is named by RunPaths and
written through djlite/files.py (`atomic_path`, or `exclusive_temp` + `commit_file`), so the run's output set
commits it with the stats and errors files.
"""

import importlib
import os
import pkgutil

from djlite.errors import RecipeError
from djlite.run_paths import RunPaths

TABLE, LAYOUT = "table", "layout"

WRITERS: dict[str, type] = {}  # export_type (and aliases) -> Writer class
_loaded = False


class Writer:
    """What every export format declares; see the module docstring."""

    name = ""
    suffix = ""
    kind = TABLE
    claims_suffix = True
    shards = "table"  # how its result shards are named (djlite.run_paths.RunPaths.shards)
    needs_frames = False

    def __init__(self, options: dict | None = None, where: str = "export_extra_args"):
        self.options = dict(options or {})

    @classmethod
    def from_recipe(cls, recipe, base_dir: str | None = None) -> "Writer":
        return cls(getattr(recipe, "export_extra_args", None), where=f"{recipe.source}: export_extra_args")

    @classmethod
    def file_suffix(cls, export_path: str) -> str:
        """The extension of the files this writer writes for `export_path`."""
        return cls.suffix


def register_writer(name: str, *aliases: str):
    """Register a Writer class as export_type `name` (and `aliases`)."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, Writer)):
            raise TypeError(f"writer {name!r}: {cls!r} must subclass djlite.formats.writer.Writer")
        if cls.kind not in (TABLE, LAYOUT):
            raise TypeError(f"writer {name!r}: kind must be {TABLE!r} or {LAYOUT!r}, got {cls.kind!r}")
        for key in (name, *aliases):
            if key in WRITERS and WRITERS[key] is not cls:
                raise ValueError(
                    f"export_type {key!r} is registered twice ({WRITERS[key].__module__}, {cls.__module__})"
                )
        if cls.claims_suffix and cls.suffix:
            taken = [c for c in WRITERS.values() if c is not cls and c.claims_suffix and c.suffix == cls.suffix]
            if taken:
                raise ValueError(f"writer {name!r}: suffix {cls.suffix} already names export_type {taken[0].name!r}")
        cls.name = name
        for key in (name, *aliases):
            WRITERS[key] = cls
        return cls

    return decorate


def load_builtin_writers() -> None:
    """Import every module under djlite.formats so that their decorators run. Idempotent."""
    global _loaded
    if _loaded:
        return
    import djlite.formats

    for info in pkgutil.walk_packages(djlite.formats.__path__, "djlite.formats."):
        importlib.import_module(info.name)
    _loaded = True


def writer_names() -> list[str]:
    """The export_types, aliases left out."""
    load_builtin_writers()
    return sorted({cls.name for cls in WRITERS.values()})


def writer_for(export_path: str, export_type: str | None) -> type | None:
    """The Writer class an export names: by export_type, else by the export path's extension; None if neither
    names a format djlite has."""
    load_builtin_writers()
    if export_type:
        return WRITERS.get(export_type)
    suffix = os.path.splitext(export_path)[1]
    for cls in WRITERS.values():
        if cls.claims_suffix and cls.suffix and cls.suffix == suffix:
            return cls
    return None


def writer_of(recipe) -> type | None:
    """The Writer class of a recipe's export."""
    return writer_for(recipe.export_path, recipe.export_type)


def paths_for(export_path: str, work_dir: str | None, writer: type | None) -> RunPaths:
    """The RunPaths of an export written by `writer` (a Writer class or instance; None: a table's defaults)."""
    if writer is None:
        return RunPaths(export_path, work_dir)
    return RunPaths(export_path, work_dir, writer.file_suffix(export_path), writer.shards)


def unknown_format_message(export_path: str, export_type: str | None = None) -> str:
    """What an export that names no format is told: the extensions and export_types there are."""
    load_builtin_writers()
    if export_type:
        return f"export_type {export_type!r} is not a format djlite has; known: {', '.join(writer_names())}"
    classes = list(dict.fromkeys(WRITERS.values()))
    tables = [c.suffix for c in classes if c.kind == TABLE and c.claims_suffix and c.suffix]
    layouts = [c.suffix for c in classes if c.kind == LAYOUT and c.claims_suffix and c.suffix]
    return (
        f"export_path {export_path!r} must end in {', '.join(tables[:-1])} or {tables[-1]}, or name a training "
        f"layout ({', '.join(layouts)}, or export_type {' / '.join(c.name for c in classes if c.kind == LAYOUT)})"
    )


def make_writer(recipe, base_dir: str | None = None, where: str | None = None) -> Writer:
    """The recipe's writer, its options checked (RecipeError if the export names no format)."""
    cls = writer_of(recipe)
    if cls is None:
        message = unknown_format_message(recipe.export_path, recipe.export_type)
        raise RecipeError(f"{where or recipe.source}: {message}")
    return cls.from_recipe(recipe, base_dir)
