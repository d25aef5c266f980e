"""Issue 15: dead workers, killed runs, concurrent runs, temporaries, resume. Kill tests run real processes
and are bounded in time (every wait has a deadline)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import robust_ops  # noqa: F401 - registers the test ops in this process (workers import it when they unpickle them)
from helpers import end_session, read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.errors import OpBugError, RecipeError
from djlite.files import atomic_path, exclusive_temp
from djlite.output_set import (
    ExportPathBusyError,
    OutputSet,
    export_lock,
    journal_path,
    output_set,
    recover,
)

TESTS = Path(__file__).parent
DRIVER = (
    "import sys; sys.path.insert(0, {tests!r}); import robust_ops; "
    "from djlite.cli.process import main; sys.exit(main(sys.argv[1:]))"
)
DEADLINE = 60


def _robust_ops() -> dict:
    classes = [c for c in vars(robust_ops).values() if isinstance(c, type) and c.__module__ == "robust_ops"]
    return {c._name: c for c in classes if hasattr(c, "_name")}


def _unregister_robust_ops() -> None:
    from djlite.registry import OPERATORS

    for name in _robust_ops():
        OPERATORS.pop(name, None)


# Importing robust_ops registered its ops at collection time, before any test of any module runs: undo that
# here, so that only this module's tests (through the fixture below) see them.
_unregister_robust_ops()


@pytest.fixture(autouse=True, scope="module")
def test_ops_registered():
    """The test ops are registered while this module's tests run, and only then (the op reference in
    docs/ops.md and other tests see djlite's own ops)."""
    from djlite.registry import OPERATORS

    OPERATORS.update(_robust_ops())
    yield
    _unregister_robust_ops()


def start_run(recipe: Path) -> subprocess.Popen:
    """dj-process as a user runs it, plus the test ops."""
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), "--config", str(recipe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def logged(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") == 2]


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def texts(n: int, prefix: str = "row") -> list[dict]:
    return [{"text": f"{prefix}-{i:04d} sample"} for i in range(n)]


def slow_recipe(tmp_path, rows: int, log: Path, np: int = 2, delay: float = 0.05, **keys) -> Path:
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(rows))
    process = [{"test_work_mapper": {"tag": "a", "log_path": str(log), "delay": delay}}]
    return write_recipe(tmp_path / "r.yaml", dataset, process, np=np, **keys)


def test_killed_worker_does_not_abort_the_run(tmp_path):
    log = tmp_path / "work.log"
    run = start_run(slow_recipe(tmp_path, 60, log, chunk_rows=5))
    try:
        workers = wait_for(lambda: {int(p) for _, _, p in logged(log)} - {run.pid}, "a worker to start work")
        os.kill(next(iter(workers)), signal.SIGKILL)
        _, stderr = run.communicate(timeout=DEADLINE)
    finally:
        run.kill()
    assert run.returncode == 0, stderr[-3000:]
    assert "died (signal SIGKILL)" in stderr and "retrying chunk" in stderr
    kept = read_jsonl(tmp_path / "out" / "res.jsonl")
    assert [r["text"] for r in kept] == [f"row-{i:04d} sample a" for i in range(60)]


def test_workers_do_not_inherit_a_lock_held_by_a_thread_of_the_main_process(tmp_path):
    # Forked from the main process, a worker would get SHARED_LOCK held by a thread that does not exist in it:
    # its first sample blocks forever, and so does the main process waiting for its chunk.
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(20))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"test_locking_mapper": {}}], np=2)
    holds_lock = "import threading; threading.Thread(target=robust_ops.SHARED_LOCK.acquire).start(); "
    driver = DRIVER.format(tests=str(TESTS)).replace("from djlite", holds_lock + "from djlite")
    run = subprocess.Popen(
        [sys.executable, "-c", driver, "--config", str(recipe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = run.communicate(timeout=DEADLINE)
    finally:
        run.kill()
        run.wait(timeout=10)
        end_session(run.pid)
    assert run.returncode == 0, stderr[-3000:]
    pids = {int(r["text"].split()[-1]) for r in read_jsonl(tmp_path / "out" / "res.jsonl")}
    assert pids and run.pid not in pids


SUBREAPER = """
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: what the run leaves behind is reparented to us
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
time.sleep(1)
orphans = []
while True:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if not pid:
        break
    orphans.append(pid)
live = [c for t in os.listdir("/proc/self/task") for c in open(f"/proc/self/task/{t}/children").read().split()]
print(json.dumps({"returncode": run.returncode, "stderr": run.stderr[-3000:], "left": orphans + live}))
"""


def test_a_run_ends_and_reaps_its_fork_server_and_resource_tracker_before_it_exits(tmp_path):
    # Left to exit by themselves once the run is gone, they outlive it (briefly, or for seconds on a loaded
    # machine), then are zombies wherever nothing reaps orphans.
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(8))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"test_work_mapper": {}}], np=2)
    run = [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), "--config", str(recipe)]
    done = subprocess.run([sys.executable, "-c", SUBREAPER, *run], capture_output=True, text=True, timeout=DEADLINE)
    report = json.loads(done.stdout)
    assert report["returncode"] == 0, report["stderr"]
    assert report["left"] == [], "processes of the run outlived it"


def test_workers_see_the_environment_of_the_run(tmp_path, monkeypatch):
    # The fork server started once, with the environment of that moment; each run's workers get the current one.
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(4))
    for value in ("first", "second"):
        monkeypatch.setenv("DJLITE_TEST_VALUE", value)
        process = [{"test_env_mapper": {"variable": "DJLITE_TEST_VALUE"}}]
        export = str(tmp_path / value / "res.jsonl")
        result = djlite.run(str(write_recipe(tmp_path / f"{value}.yaml", dataset, process, np=2, export_path=export)))
        assert {r["text"].split()[-1] for r in read_jsonl(result.result_paths[0])} == {value}


def test_a_workers_log_lines_reach_the_console_and_the_log_file(tmp_path):
    missing = [{"text": f"<__dj__video> {i}", "videos": [str(tmp_path / f"missing-{i}.mp4")]} for i in range(4)]
    dataset = write_jsonl(tmp_path / "data.jsonl", missing)
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], np=2)
    done = subprocess.run(
        [sys.executable, "-m", "djlite.cli.process", "--config", str(recipe)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 1, done.stderr[-3000:]  # the op failed on every sample
    warning = "step 0 video_duration_filter: VideoError"
    assert sum(warning in line and "WARNING" in line for line in done.stderr.splitlines()) == 4, done.stderr
    (log,) = (tmp_path / "out" / "log").glob("dj-process_*.txt")
    assert log.read_text().count(warning) == 4


def test_an_op_that_cannot_be_sent_to_workers_is_named_with_the_fix(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(4))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"test_unpicklable_mapper": {}}], np=2)
    with pytest.raises(OpBugError, match=r"cannot be sent to worker processes .*make models and open files in setup"):
        djlite.run(str(recipe))


def test_a_script_that_runs_djlite_unguarded_gets_the_fix_not_endless_retries(tmp_path):
    # Workers re-import the main script (as any spawn/forkserver child does); one without the __main__ guard
    # starts a run again in each, which fails: after a few such starts the run stops with what to do.
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(8))
    script = tmp_path / "script.py"
    script.write_text(
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import robust_ops, djlite\n"
        f"djlite.run({str(write_recipe(tmp_path / 'r.yaml', dataset, [{'test_work_mapper': {}}], np=2))!r})\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "worker processes in a row exited while starting" in last and 'if __name__ == "__main__":' in last


def test_sample_that_crashes_its_worker_every_time_becomes_an_error_record(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(30))
    process = [{"test_work_mapper": {"tag": "a", "crash_on": "row-0007"}}]
    result = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, process)), np=2, chunk_rows=4, worker_retries=1)
    kept = [r["text"] for r in read_jsonl(result.result_paths[0])]
    assert kept == [f"row-{i:04d} sample a" for i in range(30) if i != 7]
    (error,) = read_jsonl(result.errors_path)
    assert error["text"] == "row-0007 sample"
    (entry,) = error["__dj__errors__"]
    assert entry["op"] == "test_work_mapper" and entry["step"] == 0
    assert entry["error"] == "WorkerDied: worker died while processing (signal SIGKILL)"
    assert result.summary["errored"] == 1 and result.summary["balanced"]


def test_kill9_of_the_main_process_leaves_no_process_of_the_run(tmp_path):
    log = tmp_path / "work.log"
    run = start_run(slow_recipe(tmp_path, 400, log, chunk_rows=5))
    try:
        workers = wait_for(
            lambda: (w := {int(p) for _, _, p in logged(log)} - {run.pid}) and len(w) >= 2 and w, "two workers"
        )
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        time.sleep(5)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their killed parent"
    finally:
        run.kill()
        for pid in workers if "workers" in locals() else ():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_ctrl_c_that_a_library_swallowed_still_stops_the_run_at_the_next_sample(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(40))
    log = tmp_path / "work.log"
    process = [{"test_swallowing_mapper": {"swallow_on": "row-0003", "log_path": str(log)}}]
    run = start_run(write_recipe(tmp_path / "r.yaml", dataset, process, np=1))
    try:
        _, stderr = run.communicate(timeout=DEADLINE)
    finally:
        run.kill()
        run.wait(timeout=10)
    assert run.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "dj-process: interrupted; no output of this run was completed"
    assert [text for _, text, _ in logged(log)] == [f"row-{i:04d} sample" for i in range(4)]
    assert not (tmp_path / "out" / "res.jsonl").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])  # SIGHUP: the terminal or ssh session closed
def test_sigterm_stops_the_run_like_ctrl_c(tmp_path, signum):
    log = tmp_path / "work.log"
    run = start_run(slow_recipe(tmp_path, 400, log, chunk_rows=5))
    try:
        workers = wait_for(lambda: {int(p) for _, _, p in logged(log)} - {run.pid}, "a worker to start work")
        os.kill(run.pid, signum)
        _, stderr = run.communicate(timeout=DEADLINE)
    finally:
        run.kill()
    assert run.returncode == 130
    assert stderr.strip().splitlines()[-1] == "dj-process: interrupted; no output of this run was completed"
    time.sleep(1)
    assert not [pid for pid in workers if alive(pid)]
    out = tmp_path / "out"
    assert not (out / "res.jsonl").exists()
    assert not [p for p in os.listdir(out) if "tmp" in p or "chunks" in p]


def multi_stage_recipe(tmp_path, rows: int, log: Path, np: int = 1, delay: float = 0.0, name="r", **keys):
    dataset = tmp_path / "data.jsonl"
    if not dataset.exists():
        # Every 10th sample duplicates its predecessor's first 8 characters: the deduplicator drops it.
        write_jsonl(dataset, [{"text": f"row-{i - (i % 10 == 9):04d} {i}"} for i in range(rows)])
    process = [
        {"test_work_mapper": {"tag": "a", "log_path": str(log), "delay": delay}},
        {"test_text_length_filter": {"max_len": 14, "log_path": str(log)}},
        {"test_text_deduplicator": {"prefix": 8, "log_path": str(log)}},
        {"test_work_mapper": {"tag": "b", "log_path": str(log), "delay": delay}},
    ]
    path = tmp_path / f"{name}.yaml"
    recipe = write_recipe(path, dataset, process, np=np, use_checkpoint=True, **keys)
    text = recipe.read_text().replace(str(tmp_path / "out"), str(tmp_path / f"out-{name}"))
    recipe.write_text(text)
    return recipe


OUTPUTS = ("res.jsonl", "res_stats.jsonl", "res_errors.jsonl")


@pytest.mark.parametrize("np_workers", [1, 2])
def test_resume_after_kill9_redoes_at_most_a_chunk_per_worker_and_gives_identical_outputs(tmp_path, np_workers):
    rows, chunk = 120, 5
    reference = djlite.run(str(multi_stage_recipe(tmp_path, rows, tmp_path / "ref.log", name="ref")))
    log = tmp_path / "work.log"
    recipe = multi_stage_recipe(tmp_path, rows, log, np=np_workers, delay=0.01, name="kill", chunk_rows=chunk)
    run = start_run(recipe)
    try:
        # Killed in the last stage, after the first stages are done.
        wait_for(lambda: sum(1 for tag, _, _ in logged(log) if tag == "b") >= 20, "the last stage to start")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        run.kill()
    done_before = len(logged(log))
    resumed = subprocess.run(
        [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), "--config", str(recipe)],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "chunks already done (checkpoint)" in resumed.stderr
    for name in OUTPUTS:
        assert (tmp_path / "out-kill" / name).read_bytes() == (tmp_path / "out-ref" / name).read_bytes(), name
    work = logged(log)
    per_stage = {tag: sum(1 for t, _, _ in work if t == tag) for tag in ("a", "len", "hash", "b")}
    expected = {tag: sum(1 for t, _, _ in logged(tmp_path / "ref.log") if t == tag) for tag in per_stage}
    redone = {tag: per_stage[tag] - expected[tag] for tag in per_stage}
    assert all(0 <= n <= chunk * np_workers for n in redone.values()), (redone, done_before)
    assert redone["a"] == redone["len"] == redone["hash"] == 0, "finished stages are not recomputed"
    assert reference.summary["kept"] == len(read_jsonl(tmp_path / "out-kill" / "res.jsonl"))


def test_a_second_run_on_the_same_export_path_refuses_with_one_line(tmp_path):
    log = tmp_path / "work.log"
    recipe = slow_recipe(tmp_path, 4, log, np=1)
    with export_lock(str(tmp_path / "out" / "res.jsonl")):
        done = subprocess.run(
            [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), "--config", str(recipe)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("dj-process: error: export_path") and f"in use by another run (pid {os.getpid()})" in last
    with pytest.raises(ExportPathBusyError), export_lock(str(tmp_path / "x.jsonl")):
        with export_lock(str(tmp_path / "x.jsonl")):
            pass


def test_outputs_are_committed_as_a_set_and_a_killed_commit_is_finished_by_the_next_run(tmp_path):
    export = str(tmp_path / "res.jsonl")
    for name in ("res.jsonl", "res_stats.jsonl"):
        (tmp_path / name).write_text("old\n")
    with pytest.raises(RuntimeError), output_set(export):
        with atomic_path(export) as tmp, open(tmp, "w") as f:
            f.write("new\n")
        raise RuntimeError("killed before the stats file was written")
    assert (tmp_path / "res.jsonl").read_text() == "old\n", "an unfinished set replaces nothing"
    assert sorted(os.listdir(tmp_path)) == ["res.jsonl", "res_stats.jsonl"], "and leaves no temporary"

    # Killed between writing the journal and the last rename: the next run rolls the commit forward.
    outputs = OutputSet(journal_path(export))
    for name in ("res.jsonl", "res_stats.jsonl"):
        tmp = exclusive_temp(str(tmp_path / name))
        Path(tmp).write_text("new\n")
        outputs.add(tmp, str(tmp_path / name))
    Path(outputs.journal).write_text(json.dumps({"renames": outputs.renames, "removals": []}))
    os.replace(*outputs.renames[0])
    assert (tmp_path / "res.jsonl").read_text() == "new\n" and (tmp_path / "res_stats.jsonl").read_text() == "old\n"
    recover(export)
    assert (tmp_path / "res_stats.jsonl").read_text() == "new\n" and not os.path.exists(outputs.journal)


@pytest.mark.parametrize("plant", ["rename_victim", "remove_victim", "rename_into_output", "not_a_plan"])
def test_a_planted_commit_journal_touches_nothing(tmp_path, plant):
    # The journal was obeyed blindly: {"renames": [["/victim/a", "/victim/b"]], "removals": ["/victim/c"]} at
    # out/.out.jsonl.commit.json renamed and deleted any file, before any check, on the next run there.
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in "abc":
        (victim / name).write_text(name)
    out = tmp_path / "out"
    out.mkdir()
    export = str(out / "res.jsonl")
    (out / "res.jsonl").write_text("old\n")
    plan = {
        "rename_victim": {"renames": [[str(victim / "a"), str(victim / "b")]], "removals": []},
        "remove_victim": {"renames": [], "removals": [str(victim / "c")]},
        "rename_into_output": {"renames": [[str(victim / "a"), export]], "removals": []},
        "not_a_plan": ["rm", str(victim / "c")],
    }[plant]
    Path(journal_path(export)).write_text(json.dumps(plan))
    with pytest.raises(RecipeError, match="refusing the commit journal") as refused:
        recover(export)
    assert len(str(refused.value).splitlines()) == 1
    assert sorted(p.name for p in victim.iterdir()) == ["a", "b", "c"]
    assert [(victim / n).read_text() for n in "abc"] == ["a", "b", "c"]
    assert (out / "res.jsonl").read_text() == "old\n"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_new_run_removes_temporaries_of_killed_runs_and_surplus_shards(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(6))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"test_work_mapper": {"tag": "a"}}])
    out = tmp_path / "out"
    out.mkdir()
    pid = dead_pid()
    stale = [f".res.jsonl.tmp{pid}", f".res_stats.jsonl.tmp-djlite-{pid}-abc123", f".djlite-chunks-{pid}-xyz"]
    for name in stale[:2]:
        (out / name).write_text("half")
    (out / stale[2]).mkdir()
    live = out / f".res.jsonl.tmp-djlite-{os.getpid()}-live"  # a running process's temporary is left alone
    live.write_text("mine")
    old_shards = [out / f"res-{i:02d}-of-03.jsonl" for i in range(3)]
    for shard in old_shards:
        shard.write_text("{}\n")
    djlite.run(str(recipe))
    names = set(os.listdir(out))
    assert not names & set(stale) and live.name in names
    assert not names & {s.name for s in old_shards}, "shards of the previous set do not outlive it"
    assert len(read_jsonl(out / "res.jsonl")) == 6


def test_planted_symlinks_at_temporary_names_are_never_followed(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(3))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"test_text_length_filter": {}}])
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    # The names djlite used to write through: .<name>.tmp<pid> beside every output.
    names = ("res.jsonl", "res_stats.jsonl", "res_errors.jsonl", "res_op_summary.json", "res_recipe_resolved.yaml")
    for name in names:
        (out / f".{name}.tmp{os.getpid()}").symlink_to(victim)
    djlite.run(str(recipe))
    assert victim.read_text() == "precious\n"
    assert len(read_jsonl(out / "res.jsonl")) == 3
    for _ in range(20):
        with atomic_path(str(out / "x.json")) as tmp:
            assert not os.path.islink(tmp) and os.path.getsize(tmp) == 0


def test_bad_ray_address_fails_within_seconds_with_one_line(tmp_path):
    pytest.importorskip("ray")
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(2))
    recipe = write_recipe(
        tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], executor_type="ray", ray_address="127.0.0.1:1"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "djlite.cli.process", "--config", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - start < 60
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("dj-process: error: ray_address '127.0.0.1:1': cannot reach")
    assert not [line for line in lines if "WARNING" in line or "Traceback" in line], done.stderr


def test_recipe_rejects_negative_chunk_rows(tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", texts(1))
    with pytest.raises(RecipeError, match="chunk_rows must be >= 0"):
        djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [])), chunk_rows=-1)


WORKER_AFTER_STOP = """
import multiprocess as mp
from djlite.executors.pool import _worker_main

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=_worker_main, args=(child, None))
    worker.start()
    child.close()
    parent.send_bytes(b"not a pickle")  # the worker fails to load the stage and reports it...
    parent.close()  # ...to a main process that has already closed its end (stopping on Ctrl-C)
    worker.join(60)
    print("exitcode", worker.exitcode)
"""


def test_a_worker_whose_main_process_is_stopping_exits_without_a_traceback(tmp_path):
    # A Ctrl-C that landed while a worker was still starting (a loaded machine) printed the worker's
    # BrokenPipeError traceback beside the one-line "interrupted" message.
    script = tmp_path / "worker_after_stop.py"
    script.write_text(WORKER_AFTER_STOP)
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.strip() == "exitcode 0" and "Traceback" not in done.stderr, done.stderr[-2000:]
