"""dj-process --config recipe.yaml [--config more.yaml] [--np 2] [--op_name.param value ...]"""

import signal
import sys

DESCRIPTION = "Run a Data-Juicer compatible recipe over a video dataset."
EPILOG = """op overrides:
  --OP_NAME.PARAM VALUE    a parameter of every step using that op, e.g. --video_duration_filter.min_duration 3
  --process.I.PARAM VALUE  a parameter of step I only (0-based)
  --export_extra_args.KEY VALUE  one export option; --export_extra_args '{...}' is merged key by key too
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


def _help_op_name(argv: list[str]) -> str | None:
    """The op named by --help-op (answered before any recipe is read), or None."""
    from djlite.errors import RecipeError

    for i, arg in enumerate(argv):
        if arg.startswith("--help-op="):
            return arg.split("=", 1)[1]
        if arg == "--help-op":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise RecipeError("--help-op needs an op name, e.g. --help-op video_duration_filter")
            return argv[i + 1]
    return None


def _run(argv: list[str]) -> int:
    from djlite.recipe import op_help, recipe_from_cli

    parser = _parser()
    name = _help_op_name(argv)
    if name is not None:
        print(op_help(name))
        return 0
    recipe, namespace = recipe_from_cli(parser, argv)
    if namespace.get("print_config"):
        import yaml

        print(yaml.safe_dump(recipe.resolved(), sort_keys=False, allow_unicode=True), end="")
        return 0

    from loguru import logger

    from djlite import interrupt
    from djlite.api import run
    from djlite.cli.logging import configure_logging
    from djlite.outputs import log_replaced, prepare_outputs

    replaced = prepare_outputs(recipe)
    log_path = configure_logging(recipe.work_dir, "dj-process", namespace.get("verbose"))
    log_replaced(replaced)
    logger.info(f"recipe {recipe.source}: {len(recipe.ops)} ops; log: {log_path}")
    result = run(recipe)
    interrupt.finish()  # committed: a Ctrl-C from here on does not say "no output of this run was completed"
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
    argv_given, argv = argv, list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered without building the parser
        from djlite import __version__

        print(f"dj-process (djlite) {__version__}")
        return 0
    from djlite.cli.logging import STOP_SIGNALS, run_command

    entry = argv_given is None  # the process's own command line: the console script or python -m
    status = run_command("dj-process", _run, argv, stop_signals=STOP_SIGNALS)
    if entry:
        # The answer is decided; a stop signal while the interpreter shuts down would make it exit by that signal
        # (-2) after a run that completed or already said it was interrupted.
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
