#!/usr/bin/env bash
# Builds the "reader" virtual environment: TensorFlow (CPU), MediaPipe's media_sequence.py and WebDataset, the
# real readers that tests/test_formats_readers.py checks djlite's exports against. djlite never imports them.
#
#   bash tools/reader_env.sh            # builds $DJLITE_READER_VENV, default <repo>/.venv-readers
#
# Versions: mediapipe 0.10.14 is the last release whose wheel ships mediapipe/util/sequence/media_sequence.py
# with protobuf < 5; tensorflow-cpu 2.17.1 is the newest TensorFlow that also accepts protobuf < 5.
# Both have cp311 manylinux wheels. Idempotent: an existing, working venv is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DJLITE_READER_VENV:-$PWD/.venv-readers}"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import tensorflow, mediapipe.util.sequence.media_sequence, webdataset" 2>/dev/null; then
    echo "reader venv ready: $VENV"
    exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "tensorflow-cpu==2.17.1" "mediapipe==0.10.14" "numpy<2" "webdataset==1.0.2"
"$VENV/bin/python" -c "import tensorflow as tf, mediapipe.util.sequence.media_sequence as ms; print('tf', tf.__version__)"
echo "reader venv ready: $VENV"
