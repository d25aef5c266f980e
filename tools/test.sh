#!/usr/bin/env bash
# The README's test command, and what CI runs: install djlite with every backend the suite tests, build the
# venv of real readers (TensorFlow, MediaPipe, WebDataset) that the export tests check records against, then
# run the suite. Extra arguments go to pytest (e.g. ./tools/test.sh tests/test_recipe.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."

pip install -e ".[dev]"
# The readers' venv is optional: where it cannot be built, tests/test_formats_readers.py skips with a reason.
bash tools/reader_env.sh || echo "reader venv not built; the real-reader tests will skip"
python -m pytest -q "$@"
