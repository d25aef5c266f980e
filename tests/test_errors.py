"""Issue 20: one exception taxonomy. Every exception class djlite defines is a DjliteError with an action, the
classifier decides by that action (builtins by the one table in djlite/errors.py), and each action does what it
says: a recipe error exits 2, a sample error is recorded, an op bug stops the run, an environment error stops it
with one line."""

import errno
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import av
import error_ops
import pytest
from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite import errors
from djlite.errors import Action, DjliteError, OpBugError, action_of

TESTS = Path(__file__).parent
DRIVER = (
    "import sys; sys.path.insert(0, {tests!r}); import error_ops, robust_ops; error_ops.register(); "
    "from djlite.cli.process import main; sys.exit(main(sys.argv[1:]))"
)


def djlite_exception_classes() -> list[type]:
    """Every exception class defined in a djlite module (each module imported; none may fail to import)."""
    found = {}
    for module in pkgutil.walk_packages(djlite.__path__, "djlite."):
        mod = importlib.import_module(module.name)
        for obj in vars(mod).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("djlite"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[name] for name in sorted(found)]


def test_every_exception_class_in_djlite_belongs_to_the_taxonomy_and_has_an_action():
    classes = djlite_exception_classes()
    assert len(classes) >= 18  # the 5 families and their base in errors.py, and the 12 members elsewhere
    outside = [c.__qualname__ for c in classes if not issubclass(c, DjliteError)]
    assert outside == [], "every exception class is a DjliteError (djlite/errors.py)"
    assert all(isinstance(c.action, Action) for c in classes if c is not DjliteError)
    # The table in errors.py names each one, so the one page on errors is the whole list.
    unlisted = [c.__qualname__ for c in classes if c.__qualname__ not in errors.__doc__]
    assert unlisted == []
    families = {c.__qualname__: c.action for c in classes if c.__module__ != "djlite.errors"}
    assert families["LineError"] is families["RecordError"] is families["CorruptRecordError"] is Action.SAMPLE
    assert families["OpDeclarationError"] is Action.OP_BUG
    assert families["WorkerDiedError"] is families["OCRBackendError"] is Action.ENVIRONMENT
    assert families["ExportPathBusyError"] is families["StatsFileError"] is Action.RECIPE


def test_a_djlite_error_without_an_action_is_refused_when_defined():
    with pytest.raises(TypeError, match="NoAction: a DjliteError needs an action"):

        class NoAction(DjliteError):
            pass


def test_the_family_decides_not_the_builtin_base():
    from djlite.jsonl_lines import LineError
    from djlite.registry import OpDeclarationError

    # A LineError is still a ValueError for callers that catch one, an OpDeclarationError still a TypeError.
    assert isinstance(LineError("x"), ValueError) and isinstance(OpDeclarationError("x"), TypeError)
    # TypeError alone is an op bug; the family says OpDeclarationError is one anyway, not by its base.
    assert action_of(OpDeclarationError("x"), on_sample=True) is Action.OP_BUG
    assert action_of(LineError("x")) is Action.SAMPLE  # a ValueError elsewhere is an op bug: the family wins
    assert action_of(ValueError("x")) is Action.OP_BUG


def test_builtins_map_by_the_one_table():
    full = OSError(errno.ENOSPC, "No space left on device", "/x")
    denied = PermissionError(errno.EACCES, "Permission denied", "/x")
    for error, on_sample, elsewhere in [
        (ValueError("bad value"), Action.SAMPLE, Action.OP_BUG),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), Action.SAMPLE, Action.OP_BUG),
        (FileNotFoundError(errno.ENOENT, "No such file", "/x"), Action.SAMPLE, Action.OP_BUG),
        (EOFError(), Action.SAMPLE, Action.OP_BUG),
        (full, Action.ENVIRONMENT, Action.ENVIRONMENT),
        (denied, Action.SAMPLE, Action.ENVIRONMENT),
        (AttributeError("x"), Action.OP_BUG, Action.OP_BUG),
        (KeyError("x"), Action.OP_BUG, Action.OP_BUG),
        (ImportError("x"), Action.OP_BUG, Action.OP_BUG),
    ]:
        assert (action_of(error, on_sample=True), action_of(error)) == (on_sample, elsewhere), repr(error)


def test_a_pyav_error_on_a_sample_is_a_sample_error(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"not a video at all " * 100)
    with pytest.raises(av.FFmpegError) as raised:
        av.open(str(path))
    assert action_of(raised.value, on_sample=True) is Action.SAMPLE
    # djlite's own reading wraps it into the taxonomy where it happens.
    from djlite.video.probe import probe_video

    with pytest.raises(errors.VideoError, match="cannot open as a video container"):
        probe_video(str(path))


# ---------------------------------------------------------------- each action does what it says


def texts(*names: str) -> list[dict]:
    return [{"text": name} for name in names]


def dj_process_with_test_ops(recipe: Path) -> subprocess.CompletedProcess:
    script = DRIVER.format(tests=str(TESTS))
    return subprocess.run(
        [sys.executable, "-c", script, "--config", str(recipe)], capture_output=True, text=True, timeout=300
    )


def raise_recipe(tmp_path, kind: str, rows=("a", "b boom", "c"), **keys) -> Path:
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(*rows))
    process = [{error_ops.NAME: {"raise_on": "boom", "kind": kind}}]
    return write_recipe(tmp_path / "r.yaml", dataset, process, **keys)


@pytest.fixture
def test_op_registered():
    error_ops.register()
    yield
    error_ops.unregister()


def test_recipe_error_exits_2_with_one_line_before_any_data_is_read(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts("a"))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"no_such_filter": {}}])
    run = dj_process_with_test_ops(recipe)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and "Traceback" not in run.stderr
    assert run.stderr.startswith("dj-process: error: unknown op 'no_such_filter'")
    assert not (tmp_path / "out").exists()


def test_sample_error_is_recorded_and_the_run_goes_on(tmp_path):
    # On the first sample too: a sample error needs no earlier success, unlike a bug.
    run = dj_process_with_test_ops(raise_recipe(tmp_path, "value", rows=("a boom", "b", "c")))
    assert run.returncode == 0, run.stderr[-2000:]
    out = tmp_path / "out"
    assert [r["text"] for r in read_jsonl(out / "res.jsonl")] == ["b ok", "c ok"]
    (errored,) = read_jsonl(out / "res_errors.jsonl")
    assert errored["text"] == "a boom"
    assert errored["__dj__errors__"][0]["error"] == "ValueError: a value of the sample the op cannot use"


def test_op_bug_stops_the_run_with_its_traceback(tmp_path):
    run = dj_process_with_test_ops(raise_recipe(tmp_path, "bug", rows=("a boom", "b")))
    assert run.returncode == 1
    assert "Traceback" in run.stderr and "OpBugError" in run.stderr and "on its first sample" in run.stderr
    assert not (tmp_path / "out" / "res.jsonl").exists()


@pytest.mark.parametrize("np", [1, 2])
def test_an_op_bug_error_raised_on_a_later_sample_still_stops_the_run(tmp_path, test_op_registered, np):
    # A builtin bug after the op's first success is recorded (a bug on rare input); an OpBugError is the op's
    # own code saying it is broken, and stops the run wherever it comes.
    recipe = raise_recipe(tmp_path, "op_bug", rows=("a", "b", "c boom", "d"), np=np)
    with pytest.raises(OpBugError, match="the op's own check"):
        djlite.run(str(recipe))


def test_a_full_disk_inside_an_op_stops_the_run_with_one_line(tmp_path):
    # Issue 20: it was an error record on every later sample (an OSError counted as the sample's own trouble).
    run = dj_process_with_test_ops(raise_recipe(tmp_path, "full_disk"))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last == (
        "dj-process: error: cannot write /full/disk/frame.jpg: No space left on device; earlier outputs are unchanged"
    )
    assert not (tmp_path / "out" / "res.jsonl").exists()


def test_a_full_disk_in_a_worker_reaches_the_parent_as_the_same_error(tmp_path, test_op_registered):
    recipe = raise_recipe(tmp_path, "full_disk", rows=[f"row {i}" for i in range(7)] + ["row boom"], np=2)
    with pytest.raises(OSError) as raised:
        djlite.run(str(recipe))
    assert raised.value.errno == errno.ENOSPC and action_of(raised.value) is Action.ENVIRONMENT


def test_a_setup_error_inside_an_op_stops_the_run_with_one_line(tmp_path):
    # Issue 20: an OCRBackendError (a RuntimeError) after the op's first sample was an error record per sample.
    run = dj_process_with_test_ops(raise_recipe(tmp_path, "setup"))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("dj-process: error: OCR backend 'rapidocr' needs onnxruntime") and "djlite[ocr]" in last


def test_workers_that_keep_dying_stop_the_run_with_one_line(tmp_path):
    # Every row kills its worker (robust_ops' crash_on): a broken environment, not one bad sample.
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(*[f"row {i} crash" for i in range(12)]))
    process = [{"test_work_mapper": {"crash_on": "crash"}}]
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process, np=2, worker_retries=0, chunk_rows=100)
    run = dj_process_with_test_ops(recipe)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("dj-process: error: ") and "workers died 5 times in a row" in last


def test_a_sample_error_under_on_error_raise_keeps_its_traceback(tmp_path):
    run = dj_process_with_test_ops(raise_recipe(tmp_path, "value", on_error="raise"))
    assert run.returncode == 1 and "Traceback" in run.stderr and "ValueError: a value of the sample" in run.stderr
