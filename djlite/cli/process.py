"""dj-process --config recipe.yaml [--config more.yaml] [--np 2] [--op_name.param value ...]"""

import sys

DESCRIPTION = "Run a Data-Juicer compatible recipe over a video dataset."
EPILOG = """op overrides:
  --OP_NAME.PARAM VALUE    a parameter of every step using that op, e.g. --video_duration_filter.min_duration 3
  --process.I.PARAM VALUE  a parameter of step I only (0-based)
values are read as YAML 1.2: 3, 2.5, true, null, [1, 2]; 4:3 stays a string.
exit status: 0 done, 1 failed, 2 recipe error (nothing read), 130 interrupted (Ctrl-C)."""


def _parser():
    from djlite import __version__
    from djlite.recipe import cli_parser

    parser = cli_parser("dj-process", DESCRIPTION, EPILOG)
    parser.add_argument("--print_config", action="store_true", help="print the resolved recipe and exit")
    parser.add_argument("--help-op", dest="help_op", metavar="OP_NAME", help="an op's parameters, types, defaults")
    parser.add_argument("--verbose", action="store_true", help="log debug messages to the console")
    parser.add_argument("--version", action="version", version=f"dj-process (djlite) {__version__}")
    return parser


def _run(argv: list[str]) -> int:
    from djlite.recipe import op_help, recipe_from_cli

    parser = _parser()
    if "--help-op" in argv or any(a.startswith("--help-op=") for a in argv):
        name = argv[argv.index("--help-op") + 1] if "--help-op" in argv else argv[0].split("=", 1)[1]
        print(op_help(name))
        return 0
    recipe, namespace = recipe_from_cli(parser, argv)
    if namespace.get("print_config"):
        import yaml

        print(yaml.safe_dump(recipe.resolved(), sort_keys=False, allow_unicode=True), end="")
        return 0

    from loguru import logger

    from djlite.api import run
    from djlite.cli.logging import configure_logging
    from djlite.outputs import log_replaced, prepare_outputs

    replaced = prepare_outputs(recipe)
    log_path = configure_logging(recipe.work_dir, "dj-process", namespace.get("verbose"))
    log_replaced(replaced)
    logger.info(f"recipe {recipe.source}: {len(recipe.ops)} ops; log: {log_path}")
    result = run(recipe)
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from djlite.cli.logging import run_command

    return run_command("dj-process", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
