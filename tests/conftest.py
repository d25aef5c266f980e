"""Shared fixtures: generated clips (always available) and ../shared/videos (skipped when absent)."""

import csv
import os
import tempfile
from pathlib import Path

import pytest

# datasets reads its cache location at import: set it before anything imports datasets, so the suite
# never writes into the user's ~/.cache and never reuses another session's cache files.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="djlite-test-hf-")
# Likewise djlite's per-video stats cache (djlite.stats_cache), read when a run starts.
os.environ["DJLITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="djlite-test-stats-")

REPO = Path(__file__).resolve().parent.parent
SHARED_VIDEOS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos"))


def shared_dir(name: str) -> Path:
    folder = SHARED_VIDEOS / name
    if not (folder / "MANIFEST.tsv").is_file():
        pytest.skip(f"{folder} is absent (shared test media)")
    return folder


def read_manifest(folder: Path) -> list[dict]:
    with open(folder / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="session")
def dj_videos() -> Path:
    return shared_dir("dj")


@pytest.fixture(scope="session")
def corpus_videos() -> Path:
    return shared_dir("corpus")


@pytest.fixture(scope="session")
def bad_videos() -> Path:
    return shared_dir("bad")


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, str]:
    """Generated clips: moving, static, text, short, moving_reencoded, broken."""
    from synthetic import make_demo_set

    return make_demo_set(str(tmp_path_factory.mktemp("clips")))
