"""Run Data-Juicer's own unit tests for its video ops against djlite.

    python tools/dj_tests/run.py --dj-tests /path/to/data-juicer/tests/ops --videos ../shared/videos/dj [-q ...]

(or set DJ_TESTS_DIR and DJ_TEST_VIDEOS). Data-Juicer's test files are read from its checkout, never copied
into this repository: each run copies the selected files into a temporary folder laid out as Data-Juicer's
`tests/ops/` (its `data/` folder made of links to the test videos, so nothing is written beside them), puts a
stand-in `data_juicer` package in front (shim.py: its names mapped onto djlite's ops), and runs pytest there.
Extra arguments go to pytest. DJ_TESTS_OCR_BACKEND=easyocr runs the OCR filter's tests with EasyOCR (Data-Juicer's
own detector) where it is installed; the default backend (rapidocr) misses the thin margins of its range tests.
Exit status: pytest's (0 when every collected test passed; 5 when nothing ran).
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shim import VIDEO_OPS  # noqa: E402

CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import shim
shim.install()
"""


def prepare(dj_tests: Path, videos: Path, into: Path) -> list[Path]:
    """Lay out Data-Juicer's video op tests under `into`; returns the test files found."""
    ops = into / "ops"
    (ops / "data").mkdir(parents=True)
    for video in videos.glob("*.mp4"):
        os.symlink(video.resolve(), ops / "data" / video.name)
    found = []
    for kind, names in VIDEO_OPS.items():
        (ops / kind).mkdir()
        (ops / kind / "__init__.py").write_text("")
        for name in names:
            source = dj_tests / kind / f"test_{name}.py"
            if source.is_file():
                shutil.copy(source, ops / kind / source.name)
                found.append(ops / kind / source.name)
    (ops / "__init__.py").write_text("")
    (into / "conftest.py").write_text(CONFTEST)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dj-tests", default=os.environ.get("DJ_TESTS_DIR"), help="Data-Juicer's tests/ops folder")
    parser.add_argument("--videos", default=os.environ.get("DJ_TEST_VIDEOS"), help="folder of video1.mp4 ...")
    args, pytest_args = parser.parse_known_args(argv)
    if not args.dj_tests or not Path(args.dj_tests).is_dir():
        print("dj_tests: give Data-Juicer's tests/ops folder with --dj-tests or DJ_TESTS_DIR", file=sys.stderr)
        return 2
    if not args.videos or not Path(args.videos, "video1.mp4").is_file():
        print("dj_tests: give the folder of Data-Juicer's test videos with --videos or DJ_TEST_VIDEOS", file=sys.stderr)
        return 2
    import pytest

    with tempfile.TemporaryDirectory(prefix="djlite-dj-tests-") as tmp:
        files = prepare(Path(args.dj_tests), Path(args.videos), Path(tmp))
        if not files:
            print(f"dj_tests: no video op tests under {args.dj_tests}", file=sys.stderr)
            return 5
        return pytest.main([str(f) for f in files] + ["-p", "no:cacheprovider", "--rootdir", tmp, *pytest_args])


if __name__ == "__main__":
    sys.exit(main())
