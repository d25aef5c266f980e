#!/usr/bin/env bash
# The README's test command, and what CI runs: install djlite with every backend the suite tests, build the
# venv of real readers (TensorFlow, MediaPipe, WebDataset) that the export tests check records against, then
# run the suite. Extra arguments go to pytest (e.g. ./tools/test.sh tests/test_recipe.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."

pip install -e ".[dev]"
# PySceneDetect is the reference the scene-split tests compare cuts with (and the Adaptive/Threshold detectors'
# backend). Its wheel asks for opencv-python, a second cv2 beside the headless build djlite uses, so it goes in
# without its dependencies (docs/clips-and-selection.md's advice for users too); platformdirs is the one it imports.
pip install --no-deps "scenedetect==0.7.2" && pip install platformdirs
# The readers' venv is optional: where it cannot be built, tests/test_formats_readers.py skips with a reason.
bash tools/reader_env.sh || echo "reader venv not built; the real-reader tests will skip"
if [ $# -gt 0 ]; then
    exec python -m pytest -q "$@"
fi
# The suite in two parts, each timed: the unit and per-op tests, then the slow ones (whole-corpus runs, marked
# `slow`). Both always run; the script fails if either does.
status=0
start=$SECONDS
python -m pytest -q -m "not slow" --durations=10 || status=$?
fast=$((SECONDS - start))
python -m pytest -q -m slow --durations=10 || status=$?
slow=$((SECONDS - start - fast))
echo "suite time: ${fast} s for the tests not marked slow, ${slow} s for the slow ones"
exit $status
