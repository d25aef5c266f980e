"""dj-process --config recipe.yaml [--np 2] [--export_path out.jsonl] [--op_name.param value ...]"""

import argparse
import sys

from loguru import logger

from djlite.cli.logging import configure_logging
from djlite.errors import RecipeError

EPILOG = """overrides:
  --KEY VALUE              any global recipe key, e.g. --np 2 --export_path out/res.jsonl
  --OP_NAME.PARAM VALUE    a parameter of every step using that op, e.g. --video_duration_filter.min_duration 3
  --process.I.PARAM VALUE  a parameter of step I only (0-based)
values are read as YAML: 3, 2.5, true, null, [1, 2]"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dj-process",
        description="Run a Data-Juicer compatible recipe over a video dataset.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="path to the recipe YAML")
    parser.add_argument("--verbose", action="store_true", help="log debug messages to the console")
    args, rest = parser.parse_known_args(argv)

    from djlite.api import run
    from djlite.recipe import load_recipe, parse_overrides

    configure_logging(None, "dj-process", args.verbose)
    try:
        recipe = load_recipe(args.config, overrides=parse_overrides(rest))
    except RecipeError as e:
        print(f"dj-process: error: {e}", file=sys.stderr)
        return 2
    log_path = configure_logging(recipe.work_dir, "dj-process", args.verbose)
    logger.info(f"recipe {args.config}: {len(recipe.ops)} ops; log: {log_path}")
    try:
        result = run(recipe)
    except RecipeError as e:
        print(f"dj-process: error: {e}", file=sys.stderr)
        return 2
    for path in result.result_paths:
        logger.info(f"kept samples: {path}")
    logger.info(f"stats: {result.stats_path}; errors: {result.errors_path}; summary: {result.summary_path}")
    if result.failed_ops:
        failed = ", ".join(f"step {r.step} {r.op} ({r.errors} of {r.input})" for r in result.failed_ops)
        print(
            f"dj-process: error: ops failed on every sample they received: {failed}; see {result.errors_path}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
