"""dj-analyze: stats tables, plots and one self-contained HTML report.

dj-analyze --config recipe.yaml [--np 2] [--op_name.param value ...]
    stats pass of every filter of the recipe (nothing dropped), then the analysis, in <work_dir>/analysis/
dj-analyze --stats out/res_stats.jsonl [--config recipe.yaml] [--dataset out/res.jsonl]
    analysis of an existing stats file, no stats computed and no video decoded; --config adds the recipe's
    thresholds and what-if counts, --dataset (the result file of the same run) adds thumbnails
dj-analyze --auto --dataset_path d.jsonl [--auto_num 1000]
    every stats-producing video filter with its defaults on the first auto_num samples
"""

import os
import sys

from loguru import logger

from djlite.cli.logging import configure_logging
from djlite.errors import RecipeError

EPILOG = """outputs (in WORK_DIR/analysis/): overall.csv, overall.md, whatif.csv, <stat>-hist.png, <stat>-box.png,
report.html, and for a stats pass its <export base>_stats.jsonl, <export base>.jsonl and _errors.jsonl.
WORK_DIR defaults to the recipe's work_dir (--config), the stats file's folder (--stats) or
./outputs/<dataset name> (--auto). Recipe keys and overrides work as in dj-process: --config (repeatable),
--np 2, --OP_NAME.PARAM VALUE."""


def _parser():
    from djlite.recipe import cli_parser

    parser = cli_parser(
        "dj-analyze",
        "Analyse the stats of a Data-Juicer compatible recipe: tables, plots and an HTML report.",
        EPILOG,
        skip={"auto", "auto_num"},
    )
    parser.add_argument("--stats", help="an existing <export base>_stats.jsonl to analyse without recomputing")
    parser.add_argument("--dataset", help="with --stats: the result file of the same run, for thumbnails")
    parser.add_argument("--auto", action="store_true", help="every stats-producing video filter, defaults only")
    parser.add_argument("--auto_num", type=int | None, default=None, help="with --auto: how many samples (1000)")
    parser.add_argument("--no_thumbnails", action="store_true", help="do not decode videos for the report")
    parser.add_argument("--verbose", action="store_true", help="log debug messages to the console")
    return parser


def _check_modes(args, op_overrides) -> None:
    config = bool(args.get("config"))
    modes = [config and not args.stats, bool(args.stats), args.auto]
    if sum(modes) != 1:
        raise RecipeError("give one of --config, --stats or --auto")
    if args.auto and not args.dataset_path:
        raise RecipeError("--auto needs --dataset_path")
    if args.auto and config:
        raise RecipeError("--auto runs default filters; it takes no --config")
    if args.dataset and not args.stats:
        raise RecipeError("--dataset goes with --stats (a stats pass knows its videos already)")
    if args.auto_num is not None and not args.auto:
        raise RecipeError("--auto_num goes with --auto")
    if op_overrides and not (config or args.auto):
        raise RecipeError(f"op overrides need a recipe (--config): {', '.join(op_overrides)}")


def _stats_work_dir(stats_path: str) -> str:
    folder = os.path.dirname(os.path.abspath(stats_path))
    # Re-analysing the stats file of a stats pass writes beside it, not into analysis/analysis/.
    return os.path.dirname(folder) if os.path.basename(folder) == "analysis" else folder


def _run(argv: list[str]) -> int:
    from djlite.recipe import GLOBAL_KEYS, load_recipe, parse_cli, recipe_from_namespace, split_overrides

    parser = _parser()
    args, op_overrides = parse_cli(parser, argv)
    _check_modes(args, op_overrides)

    from djlite.analysis.analyzer import ANALYSIS_DIR, analyze_recipe, analyze_records
    from djlite.analysis.plots import require_matplotlib

    require_matplotlib()
    thumbnails = not args.no_thumbnails
    if args.stats:
        from djlite.analysis.stats_file import load_run_records

        recipe = recipe_from_namespace(args, op_overrides) if args.get("config") else None
        work_dir = args.work_dir or _stats_work_dir(args.stats)
        configure_logging(work_dir, "dj-analyze", args.verbose)
        records = load_run_records(
            args.stats,
            dataset_path=args.dataset if thumbnails else None,
            video_key=recipe.video_key if recipe else "videos",
        )
        title = f"dj-analyze: {recipe.project_name}" if recipe else f"dj-analyze: {os.path.basename(args.stats)}"
        result = analyze_records(records, os.path.join(work_dir, ANALYSIS_DIR), recipe, title, thumbnails=thumbnails)
    else:
        if args.auto:
            from djlite.analysis.auto import DEFAULT_AUTO_NUM, auto_recipe

            name = os.path.splitext(os.path.basename(os.path.normpath(args.dataset_path)))[0]
            work_dir = os.path.abspath(args.work_dir or os.path.join("outputs", name))
            data = auto_recipe(args.dataset_path, args.auto_num or DEFAULT_AUTO_NUM, work_dir)
            given = parser.parse_args(split_overrides(argv)[0], defaults=False)
            overrides = {k: given[k] for k in GLOBAL_KEYS if given.get(k) is not None and k != "dataset_path"}
            recipe = load_recipe(data=data, overrides={**overrides, **op_overrides})
        else:
            recipe = recipe_from_namespace(args, op_overrides)
        log_path = configure_logging(os.path.join(recipe.work_dir, ANALYSIS_DIR), "dj-analyze", args.verbose)
        logger.info(f"stats pass of {len(recipe.ops)} ops; log: {log_path}")
        result = analyze_recipe(recipe, thumbnails=thumbnails)
    logger.info(f"report: {result.files['report.html']}")
    if result.kept_in_sequence is not None:
        records = result.records
        logger.info(
            f"{result.kept_label}: {result.kept_in_sequence} of {len(records.rows) + len(records.errored)} samples"
            f" ({records.errored_count} errored)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    from djlite.cli.logging import run_command

    return run_command("dj-analyze", _run, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
