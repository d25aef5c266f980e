"""Small helpers for tests: write a dataset and a recipe, run dj-process in-process or as a user would."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_recipe(path: Path, dataset: Path, process: list, **keys) -> Path:
    recipe = {
        "project_name": "test",
        "dataset_path": str(dataset),
        "export_path": str(path.parent / "out" / "res.jsonl"),
        "np": 1,
        "process": process,
    }
    recipe.update(keys)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def dj_process(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run the installed console script's code path exactly as a user does, in a fresh interpreter."""
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "djlite.cli.process", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def video_samples(paths) -> list[dict]:
    return [{"text": "<__dj__video> clip", "videos": [str(p)]} for p in paths]


def without_carried_sei(packets: list[bytes], first: bytes) -> list[bytes]:
    """Stream-copied H.264 packets with the x264 version SEI that the copy carries to each keyframe taken out
    again. `first` is the source's first packet, whose first NAL unit (4-byte length prefix) is that SEI."""
    sei = first[: 4 + int.from_bytes(first[:4], "big")]
    assert sei[4] & 0x1F == 6, "the source's first NAL unit is not an SEI"
    return [packet if packet == first else packet.replace(sei, b"", 1) for packet in packets]


def session_processes(session: int) -> list[int]:
    """Live processes (not zombies) of a session: a run started with start_new_session=True, its workers and
    helper processes (they keep the session when their parent exits)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(int(name))
    return found


def end_session(session: int, timeout: float = 10.0) -> list[int]:
    """Wait up to `timeout` seconds for a session's processes to exit; SIGKILL and return those still there."""
    deadline = time.monotonic() + timeout
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = session_processes(session)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
