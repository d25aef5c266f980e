"""The jsonargparse configuration layer: --help, repeatable --config, --print_config, --help-op, --version,
YAML 1.2 scalars, the alias bound, Data-Juicer op names and keys, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import dj_process, end_session, read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
from djlite import __version__
from djlite.errors import RecipeError
from djlite.recipe import GLOBAL_KEYS, load_recipe


@pytest.fixture
def dataset(tmp_path):
    return write_jsonl(tmp_path / "data.jsonl", [{"text": "x", "videos": ["a.mp4"]}])


def test_help_lists_every_global_key_with_its_default():
    done = dj_process("--help")
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())
    for key in GLOBAL_KEYS:
        assert f"--{key}" in help_text
    assert "(type: int, default: 4)" in help_text  # np
    assert "default: ./outputs/hello_world/hello_world.jsonl" in help_text
    assert "--op_fusion" not in help_text  # Data-Juicer keys djlite ignores are accepted, not advertised


def test_version():
    done = dj_process("--version")
    assert done.returncode == 0 and __version__ in done.stdout


def test_two_configs_merge_later_overrides_earlier(tmp_path, dataset):
    first = write_recipe(tmp_path / "a.yaml", dataset, [{"video_duration_filter": {"min_duration": 1}}], np=2)
    second = tmp_path / "b.yaml"
    second.write_text("np: 3\nproject_name: merged\n")
    done = dj_process("--config", str(first), "--config", str(second), "--print_config")
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    assert printed["np"] == 3 and printed["project_name"] == "merged"
    assert printed["process"][0]["video_duration_filter"]["min_duration"] == 1.0


def test_print_config_is_the_resolved_recipe_and_runs_to_the_same_outputs(tmp_path, clips):
    data = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["static"], clips["short"]]))
    recipe = write_recipe(
        tmp_path / "r.yaml", data, [{"video_duration_filter": {"min_duration": 1.5}}], export_path="out1/res.jsonl"
    )
    done = dj_process("--config", str(recipe), "--np", "1", "--video_duration_filter.max_duration", "100",
                      "--print_config", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    assert printed["process"][0]["video_duration_filter"]["max_duration"] == 100.0
    assert printed["process"][0]["video_duration_filter"]["any_or_all"] == "any"  # every parameter filled in
    first = dj_process("--config", str(recipe), "--np", "1", "--video_duration_filter.max_duration", "100",
                       cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    saved = tmp_path / "saved.yaml"
    printed["export_path"] = str(tmp_path / "out2" / "res.jsonl")
    printed["work_dir"] = str(tmp_path / "out2")
    saved.write_text(yaml.safe_dump(printed))
    second = dj_process("--config", str(saved))
    assert second.returncode == 0, second.stderr
    assert read_jsonl(tmp_path / "out1" / "res.jsonl") == read_jsonl(tmp_path / "out2" / "res.jsonl")
    assert read_jsonl(tmp_path / "out1" / "res_stats.jsonl") == read_jsonl(tmp_path / "out2" / "res_stats.jsonl")
    resolved = yaml.safe_load((tmp_path / "out1" / "res_recipe_resolved.yaml").read_text())
    assert resolved["process"] == printed["process"]


def test_help_op_shows_types_and_defaults():
    done = dj_process("--help-op", "video_duration_filter")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "--min_duration MIN_DURATION (type: float, default: 0)" in text
    assert "Keep samples whose videos last between" in text
    assert "--video_key" in text  # the common op keys, from the base classes


def test_command_line_errors_are_one_line_exit_2(tmp_path, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])
    cases = {
        ("--np", "two"): "np: expected an integer, got 'two'",
        ("--exprt_path", "x"): "unknown option --exprt_path (did you mean 'export_path'?)",
        ("--on_error", "foo"): "on_error: expected 'drop' or 'keep' or 'raise', got 'foo'",
        ("--video_duration_filter.min_duration", "abc"): "min_duration: expected a number, got 'abc'",
        ("--video_duraton_filter.min_duration", "1"): "did you mean 'video_duration_filter'?",
    }
    for args, expected in cases.items():
        done = dj_process("--config", str(recipe), *args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, done.stderr)
    missing = dj_process("--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and missing.stderr.strip().endswith(
        "recipe file not found: " + str(tmp_path / "nope.yaml")
    )


def test_unknown_key_in_a_config_file_names_the_file(tmp_path, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [], exprt_path="x.jsonl")
    done = dj_process("--config", str(recipe))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"dj-process: error: {recipe}: unknown key 'exprt_path' (did you mean 'export_path'?)"
    ]


def test_unquoted_ratio_stays_a_string_yaml_1_2(tmp_path, dataset):
    recipe = tmp_path / "r.yaml"
    step = "  - video_aspect_ratio_filter:\n      min_ratio: 1:2\n      max_ratio: 4:3\n"
    recipe.write_text(f"dataset_path: {dataset}\nprocess:\n{step}")
    op = load_recipe(str(recipe)).ops[0]
    assert op.config["max_ratio"] == "4:3" and op.config["min_ratio"] == "1:2"
    assert op.max_ratio == pytest.approx(4 / 3)


def test_yaml_1_1_booleans_and_dates_stay_strings(tmp_path, dataset):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"dataset_path: {dataset}\nproject_name: 2024-01-01\nprocess: []\n")
    assert load_recipe(str(recipe)).project_name == "2024-01-01"
    recipe.write_text(f"dataset_path: {dataset}\nproject_name: no\nvideo_key: on\nprocess: []\n")
    loaded = load_recipe(str(recipe))
    assert loaded.project_name == "no" and loaded.video_key == "on"


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("\n".join(lines) + "\n")
    assert len(recipe.read_bytes()) < 2000
    started = time.monotonic()
    done = dj_process("--config", str(recipe))
    assert done.returncode == 2 and "alias" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 60  # a bound, not a timing: unbounded, it exhausts memory


def test_data_juicer_op_djlite_lacks_is_named_as_such(tmp_path, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_aesthetics_filter": {}}])
    with pytest.raises(RecipeError) as info:
        load_recipe(str(recipe))
    message = str(info.value)
    assert message.startswith("op 'video_aesthetics_filter' is a Data-Juicer op that djlite does not implement")
    assert "did you mean 'video_aspect_ratio_filter'?" in message


def test_data_juicer_op_keys_are_accepted_warned_once_and_not_stored(tmp_path, dataset):
    from loguru import logger

    messages = []
    sink = logger.add(messages.append, level="WARNING")
    try:
        step = {"video_duration_filter": {"num_cpus": 2, "image_key": "images", "batch_mode": True}}
        recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, [step, step])))
    finally:
        logger.remove(sink)
    assert all("num_cpus" not in op.config and not hasattr(op, "num_cpus") for op in recipe.ops)
    assert sum("num_cpus" in m for m in messages) <= 1 and sum("image_key" in m for m in messages) <= 1


@pytest.mark.parametrize("np_", [1, 2])
def test_ctrl_c_is_one_line_exit_130_and_no_result_file(tmp_path, clips, np_):
    # Byte-identical videos are scored once per worker (the content cache): 20,000 rows of one clip took 1.5 s on
    # an idle machine, and the Ctrl-C came after the run had ended. Copies that differ by a trailing byte or
    # more are each scored, so the run is still going when the signal arrives. Every wait is bounded: a loaded
    # machine makes the test slower, never hung, and whatever is left of the run is killed.
    source = open(clips["moving"], "rb").read()
    copies = []
    for i in range(400):
        copy = tmp_path / "copies" / f"moving_{i:03d}.mp4"
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(source + b"\0" * (i + 1))
        copies.append(copy)
    data = write_jsonl(tmp_path / "data.jsonl", video_samples(copies))
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_motion_score_filter": {"sampling_fps": 30}}], np=np_)
    proc = subprocess.Popen(
        [sys.executable, "-m", "djlite.cli.process", "--config", str(recipe), "--use_cache", "false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        log = tmp_path / "out" / "log"
        while time.monotonic() < deadline and not (log.is_dir() and any(log.iterdir())) and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to the main process and its workers
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        left = end_session(proc.pid, timeout=0)  # the run reaps its workers and helpers before it exits
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not left, f"processes of the run outlived it: {left}"
    out = tmp_path / "out"
    assert not (out / "res.jsonl").exists()
    assert not [n for n in os.listdir(out) if n.startswith(".")], "the export lock or a temporary is left"


def test_ctrl_c_inside_code_compiled_from_a_string_still_exits_130(tmp_path):
    # Run as `python -m`, CPython kills itself with SIGINT at exit (status -2, not 130) when a KeyboardInterrupt
    # has come out of exec() of a string, even one caught later: the code that dataclasses and namedtuple
    # generate while a module is imported, where a Ctrl-C during start-up lands.
    (tmp_path / "interrupted_in_exec.py").write_text(
        "import os, signal, sys\n"
        "from djlite.cli.logging import run_command\n"
        "def body(argv):\n"
        "    exec('os.kill(os.getpid(), signal.SIGINT)\\nwhile True: pass')\n"
        "sys.exit(run_command('dj-process', body, []))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "interrupted_in_exec"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "dj-process: interrupted; no output of this run was completed"


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP"])
def test_sigterm_is_handled_like_ctrl_c_while_the_run_unwinds(tmp_path, signum):
    # One handler for Ctrl-C, SIGTERM and SIGHUP: a second signal during the unwinding (a scheduler that sends
    # SIGTERM again) does not cut the clean-up short, and whatever the unwinding raises on top is still the
    # one "interrupted" line, not a traceback.
    marker = tmp_path / "cleaned-up"
    (tmp_path / "terminated_twice.py").write_text(
        "import os, signal, sys, time\n"
        "import djlite.cli.process as process\n"
        "def body(argv):\n"
        "    try:\n"
        f"        os.kill(os.getpid(), signal.{signum})\n"
        "        while True: pass\n"
        "    finally:\n"
        f"        os.kill(os.getpid(), signal.{signum})\n"
        "        time.sleep(0.2)\n"
        f"        open({str(marker)!r}, 'w').close()\n"
        "        raise RuntimeError('a worker that stopped late')\n"
        "process._run = body\n"
        "sys.exit(process.main([]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "terminated_twice"], capture_output=True, text=True, timeout=60, env=env
    )
    assert marker.exists(), "the second signal cut the clean-up short"
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "dj-process: interrupted; no output of this run was completed"
    assert "Traceback" not in done.stderr


def test_help_op_without_a_name_or_with_an_unknown_one_is_one_line():
    done = dj_process("--help-op")
    assert done.returncode == 2 and "--help-op needs an op name" in done.stderr
    done = dj_process("--help-op=video_duraton_filter")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "did you mean 'video_duration_filter'?" in done.stderr


def test_printed_recipe_rerun_elsewhere_keeps_the_first_runs_summary(tmp_path, clips):
    """Issue 19 item 11: --print_config wrote an absolute work_dir, so the printed recipe run with another
    --export_path wrote its op_summary.json and recipe_resolved.yaml over the first run's."""
    data = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["short"]]))
    recipe = write_recipe(
        tmp_path / "r.yaml", data, [{"video_duration_filter": {"min_duration": 1.5}}], export_path="out1/res.jsonl"
    )
    done = dj_process("--config", str(recipe), "--print_config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    assert printed["work_dir"] is None  # derived from export_path, so it follows a new one
    saved = tmp_path / "printed.yaml"
    saved.write_text(done.stdout)
    first = dj_process("--config", str(saved), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out1 = tmp_path / "out1"
    before = {p.name: p.read_bytes() for p in out1.iterdir() if p.is_file()}
    assert {"res_op_summary.json", "res_recipe_resolved.yaml"} <= set(before)
    # Another export in another folder, and another export name in the same folder.
    for export in ("out2/res.jsonl", "out1/other.jsonl"):
        again = dj_process("--config", str(saved), "--export_path", export, "--video_duration_filter.min_duration",
                           "0", cwd=tmp_path)  # fmt: skip
        assert again.returncode == 0, again.stderr
        base = tmp_path / export.removesuffix(".jsonl")
        assert json.loads(Path(f"{base}_op_summary.json").read_text())["kept"] == 2
        resolved = yaml.safe_load(Path(f"{base}_recipe_resolved.yaml").read_text())
        assert resolved["export_path"] == str(tmp_path / export) and resolved["work_dir"] is None
    assert {name: (out1 / name).read_bytes() for name in before} == before
    assert json.loads((out1 / "res_op_summary.json").read_text())["kept"] == 1
    assert not (tmp_path / "out2" / "op_summary.json").exists()


def test_a_work_dir_of_its_own_holds_op_summary_json(tmp_path, clips):
    data = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_duration_filter": {}}], work_dir=str(tmp_path / "work"))
    done = dj_process("--config", str(recipe), "--print_config")
    assert yaml.safe_load(done.stdout)["work_dir"] == str(tmp_path / "work")  # given, so printed
    result = djlite.run(str(recipe))
    assert result.summary_path == str(tmp_path / "work" / "op_summary.json")
    assert json.loads((tmp_path / "work" / "op_summary.json").read_text())["kept"] == 1
    assert (tmp_path / "work" / "recipe_resolved.yaml").is_file()
    assert not list((tmp_path / "out").glob("*op_summary.json"))


@pytest.fixture
def layout_recipe(tmp_path, dataset):
    """A MediaSequence recipe with export options, as a user's training recipe looks."""
    (tmp_path / "labels.csv").write_text("clip,label\na.mp4,dog\n")
    return write_recipe(
        tmp_path / "r.yaml",
        dataset,
        [],
        export_path=str(tmp_path / "out" / "clips.tfrecord"),
        export_type="mediasequence",
        export_extra_args={"labels_csv": str(tmp_path / "labels.csv"), "fps": 4},
    )


def test_export_path_on_the_command_line_wins_over_the_recipes_export_type(tmp_path, layout_recipe):
    """Issue 19 item 12: the recipe's export_type silently won over a later --export_path's extension."""
    from djlite.formats.writer import writer_for

    done = dj_process(
        "--config", str(layout_recipe), "--export_path", "v/clips.tfrecords", "--print_config", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    assert printed["export_type"] is None and writer_for(printed["export_path"], None).name == "video2tfrecord"
    (line,) = [line for line in done.stderr.splitlines() if "wins" in line]
    assert "v/clips.tfrecords (command line)" in line and f"mediasequence ({layout_recipe})" in line
    assert "writes video2tfrecord" in line
    # Given after the path, export_type wins, and the log says so.
    later = dj_process("--config", str(layout_recipe), "--export_path", "v/c.tar", "--export_type", "video2tfrecord",
                       "--print_config", cwd=tmp_path)  # fmt: skip
    assert yaml.safe_load(later.stdout)["export_type"] == "video2tfrecord"
    assert "export_type video2tfrecord (command line) comes after export_path v/c.tar" in later.stderr
    # An extension that agrees (or none) is no conflict: nothing is logged, the recipe's export_type stays.
    agree = dj_process(
        "--config", str(layout_recipe), "--export_path", "v/other.tfrecord", "--print_config", cwd=tmp_path
    )
    assert yaml.safe_load(agree.stdout)["export_type"] == "mediasequence" and "wins" not in agree.stderr
    # From Python, an export_path override is later than the recipe file too.
    assert djlite.load_recipe(str(layout_recipe), {"export_path": str(tmp_path / "x.tar")}).export_type is None


def test_a_table_export_path_on_the_command_line_writes_that_table(tmp_path, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [], export_path="out/res.parquet", export_type="parquet")
    done = dj_process("--config", str(recipe), "--export_path", "out/res.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(tmp_path / "out" / "res.jsonl")[0]["text"] == "x"  # JSON lines, not parquet bytes


def test_export_extra_args_from_the_command_line_are_merged_key_by_key(tmp_path, layout_recipe):
    """Issue 19 item 13: --export_extra_args '{...}' replaced the recipe's whole dict (labels_csv vanished)."""
    labels = str(tmp_path / "labels.csv")
    done = dj_process("--config", str(layout_recipe), "--export_extra_args", '{"jpeg_quality": 90}', "--print_config")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["export_extra_args"] == {"labels_csv": labels, "fps": 4, "jpeg_quality": 90}
    one = dj_process("--config", str(layout_recipe), "--export_extra_args.fps", "2", "--print_config")
    assert yaml.safe_load(one.stdout)["export_extra_args"] == {"labels_csv": labels, "fps": 2}
    more = tmp_path / "more.yaml"
    more.write_text("export_extra_args:\n  jpeg_quality: 70\n")
    merged = dj_process("--config", str(layout_recipe), "--config", str(more), "--print_config")
    assert yaml.safe_load(merged.stdout)["export_extra_args"] == {"labels_csv": labels, "fps": 4, "jpeg_quality": 70}
    from_python = djlite.load_recipe(str(layout_recipe), overrides={"export_extra_args": {"fps": 8}})
    assert from_python.export_extra_args == {"labels_csv": labels, "fps": 8}
    assert "merged into the recipe's key by key" in " ".join(dj_process("--help").stdout.split())


def test_python_op_overrides_as_a_mapping(tmp_path, dataset):
    """Issue 19 item 16: djlite.run(..., video_duration_filter={"min_duration": 2}) is merged into that op's params."""
    process = [{"video_duration_filter": {"max_duration": 30}}, {"video_resolution_filter": {"min_width": 8}}]
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process)
    loaded = djlite.load_recipe(str(recipe), overrides={"video_duration_filter": {"min_duration": 2}, "np": 2})
    duration = loaded.ops[0].config
    assert (duration["min_duration"], duration["max_duration"], loaded.np) == (2, 30, 2)
    assert loaded.ops[1].config["min_width"] == 8
    with pytest.raises(RecipeError) as info:
        djlite.run(str(recipe), video_duraton_filter={"min_duration": 2})
    message = str(info.value)
    assert "no step uses op 'video_duraton_filter'" in message and "did you mean 'video_duration_filter'" in message
    assert "\n" not in message
    with pytest.raises(RecipeError, match="overrides np go with a recipe file or dict"):
        djlite.run(loaded, np=1)  # a built Recipe: an override would be silently ignored


def test_each_config_file_is_read_once_by_djlite(tmp_path, layout_recipe, monkeypatch):
    """parse_cli read every --config file for its one-line errors, then again for the export-key layers."""
    import djlite.recipe as recipe_module
    from djlite.cli.process import _parser

    read, seen = recipe_module.read_recipe_file, []

    def counting(path):
        seen.append(path)
        return read(path)

    monkeypatch.setattr(recipe_module, "read_recipe_file", counting)
    namespace, _ = recipe_module.parse_cli(_parser(), ["--config", str(layout_recipe), "--export_path", "v/c.tar"])
    assert seen == [str(layout_recipe)]
    assert namespace["export_type"] is None and namespace["export_extra_args"]["fps"] == 4


def test_a_ctrl_c_after_the_outputs_are_committed_does_not_interrupt_the_run():
    # A Ctrl-C that landed while dj-process logged where its (committed) files are said "interrupted; no output
    # of this run was completed", exit 130; one during interpreter shutdown exited by the signal (-2).
    from djlite import interrupt
    from djlite.cli.logging import run_command

    def body(argv):
        interrupt.finish()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the handler runs here
        return 0

    assert run_command("dj-process", body, ["--config", "x.yaml"]) == 0
    assert not interrupt.finished() and not interrupt.requested()  # cleared for the next command
