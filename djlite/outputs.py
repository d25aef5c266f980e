"""Checks on where a run writes, made before any data is read.

- An output that is an input is refused (RecipeError, exit 2): the export path, its _stats/_errors/_filtered
  files or the run's op summary / resolved recipe equal to a dataset file, or anywhere inside a folder
  dataset (the next run would read the results back as samples).
- A folder that cannot be written (read-only file system, no permission) or a disk with no room is found
  before the work, with one line, instead of after it with a traceback.
- Existing outputs are replaced, as in Data-Juicer (no --overwrite flag); the log names each one first, so
  the user can see what a re-run replaced.
"""

import os
import shutil
import tempfile

from loguru import logger

from djlite.errors import RecipeError

# Less free space than this is a full disk: even the summary files would not fit.
MIN_FREE_BYTES = 1 << 20


def output_files(recipe) -> list[str]:
    """Every file a run writes, by path (result shards aside): djlite.run_paths.RunPaths.fixed_outputs."""
    return recipe.paths.fixed_outputs()


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_outputs_are_not_inputs(recipe, where: str = "recipe") -> None:
    """RecipeError when an output would replace an input or land inside a folder dataset."""
    dataset = os.path.realpath(recipe.dataset_path)
    if os.path.isdir(dataset):
        for path, key in ((recipe.export_path, "export_path"), (recipe.work_dir, "work_dir")):
            if _inside(path, dataset):
                raise RecipeError(
                    f"{where}: {key} {path!r} is inside the folder dataset {recipe.dataset_path!r}: the next run "
                    f"would read the results as input; write them outside it"
                )
        return
    for path in output_files(recipe):
        if os.path.realpath(path) == dataset:
            raise RecipeError(
                f"{where}: output {path!r} is the dataset file (dataset_path); writing it would destroy the input: "
                f"choose another export_path"
            )


def _existing_ancestor(folder: str) -> str:
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def check_writable(folder: str) -> None:
    """Create `folder` if needed and a scratch file in it; RecipeError naming the folder if that fails."""
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".djlite-write-check-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise RecipeError(f"cannot write to {folder!r}: {e.strerror}; choose a writable export_path/work_dir") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise RecipeError(f"no space left for outputs in {folder!r} ({free} bytes free); free some or export elsewhere")


def prepare_outputs(recipe) -> list[str]:
    """All checks above; returns the existing outputs this run will replace (see log_replaced)."""
    check_outputs_are_not_inputs(recipe, recipe.source)
    for folder in dict.fromkeys([os.path.dirname(recipe.export_path), recipe.work_dir]):
        check_writable(folder)
    return [path for path in output_files(recipe) if os.path.isfile(path)]


def log_replaced(replaced: list[str]) -> None:
    if replaced:
        logger.warning(f"this run replaces {len(replaced)} existing output(s): {', '.join(replaced)}")
