"""Text-box geometry shared by the detector backends: EasyOCR-style line grouping and Data-Juicer's area.

Data-Juicer's `video_ocr_area_ratio` is defined by what `easyocr.Reader.detect()` returns: CRAFT's word
boxes, grouped into text lines, each grown by a margin, then summed. `group_into_lines` re-implements that
grouping (easyocr's `group_text_box` semantics, with `detect()`'s defaults) so that any detector's raw boxes
can be turned into boxes that mean the same thing as EasyOCR's, and `area_ratio` is DJ's formula.
"""

import math
from dataclasses import dataclass, field

import numpy as np

# easyocr.Reader.detect() defaults, the values Data-Juicer runs with.
SLOPE_THS = 0.1
YCENTER_THS = 0.5
HEIGHT_THS = 0.5
WIDTH_THS = 0.5
ADD_MARGIN = 0.1
MIN_SIZE = 20


@dataclass
class TextBoxes:
    """Detected text of one frame, in easyocr's output convention.

    rects: axis-aligned boxes `(xmin, xmax, ymin, ymax)`; quads: free-form boxes, four `(x, y)` corners.
    Boxes may reach past the frame's edges (easyocr does not clip its margins) and may overlap.
    """

    rects: list = field(default_factory=list)
    quads: list = field(default_factory=list)

    def __len__(self):
        return len(self.rects) + len(self.quads)


def _triangle_area(a, b, c) -> float:
    return 0.5 * abs(a[0] * b[1] + b[0] * c[1] + c[0] * a[1] - b[0] * a[1] - c[0] * b[1] - a[0] * c[1])


def area_ratio(boxes: TextBoxes, width: int, height: int) -> float:
    """Data-Juicer's per-frame ratio: summed box areas over the frame area.

    Not capped at 1 and overlaps are counted twice, as in Data-Juicer, so that values stay comparable.
    Inverted rectangles are skipped; quads are split into two triangles along the p1-p3 diagonal.
    """
    rect_area = sum((x1 - x0) * (y1 - y0) for x0, x1, y0, y1 in boxes.rects if x1 > x0 and y1 > y0)
    quad_area = sum(_triangle_area(p[0], p[1], p[2]) + _triangle_area(p[2], p[3], p[0]) for p in boxes.quads)
    return float(rect_area + quad_area) / float(width * height)


def _line_margin(width: float, height: float, add_margin: float) -> int:
    return int(add_margin * min(width, height))


def _grow_quad(poly: np.ndarray, add_margin: float) -> list:
    """A tilted box grown along its diagonals, as easyocr does for boxes that are not horizontal."""
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = poly.astype(float)
    height = math.hypot(x4 - x1, y4 - y1)
    width = math.hypot(x2 - x1, y2 - y1)
    margin = int(1.44 * add_margin * min(width, height))
    # easyocr divides by max(10, dx), and dx is negative for a clockwise box, so the angles come out
    # from a 10-pixel run; kept so that tilted boxes grow exactly as EasyOCR's do.
    theta13 = abs(math.atan((y1 - y3) / max(10.0, x1 - x3)))
    theta24 = abs(math.atan((y2 - y4) / max(10.0, x2 - x4)))
    c13, s13 = math.cos(theta13) * margin, math.sin(theta13) * margin
    c24, s24 = math.cos(theta24) * margin, math.sin(theta24) * margin
    return [(x1 - c13, y1 - s13), (x2 + c24, y2 - s24), (x3 + c13, y3 + s13), (x4 - c24, y4 + s24)]


def _split_rows(items: list, ycenter_ths: float) -> list[list]:
    """Consecutive boxes (sorted by centre height) whose centre is near the row's mean centre share a row."""
    rows, row = [], []
    for item in sorted(items, key=lambda it: it[4]):
        if row and abs(np.mean([r[4] for r in row]) - item[4]) >= ycenter_ths * np.mean([r[5] for r in row]):
            rows.append(row)
            row = []
        row.append(item)
    if row:
        rows.append(row)
    return rows


def _merge_row(row: list, height_ths: float, width_ths: float) -> list[list]:
    """Left to right, a box joins the previous run when its height is similar and the gap is small."""
    runs, run, last_xmax = [], [], None
    for item in sorted(row, key=lambda it: it[0]):
        if run:
            heights = np.mean([r[5] for r in run])
            similar = abs(heights - item[5]) < height_ths * heights
            close = (item[0] - last_xmax) < width_ths * (item[3] - item[2])
            if not (similar and close):
                runs.append(run)
                run = []
        run.append(item)
        last_xmax = item[1]
    if run:
        runs.append(run)
    return runs


def group_into_lines(
    polys,
    slope_ths: float = SLOPE_THS,
    ycenter_ths: float = YCENTER_THS,
    height_ths: float = HEIGHT_THS,
    width_ths: float = WIDTH_THS,
    add_margin: float = ADD_MARGIN,
    min_size: int = MIN_SIZE,
) -> TextBoxes:
    """Raw detector boxes (4 corners, clockwise from top-left) -> EasyOCR-style line boxes with margins.

    Near-horizontal boxes become axis-aligned rectangles; those on one row, of similar height and with
    small gaps, merge into one line box; every line grows by `add_margin` times its shorter side. Tilted
    boxes stay quads and grow along their diagonals. Boxes whose longer side is at most `min_size` px
    are dropped, as in `easyocr.Reader.detect()`.
    """
    horizontal, quads = [], []
    for poly in polys:
        p = np.asarray(poly, dtype=float).reshape(4, 2)
        slope_up = (p[1, 1] - p[0, 1]) / max(10.0, p[1, 0] - p[0, 0])
        slope_down = (p[2, 1] - p[3, 1]) / max(10.0, p[2, 0] - p[3, 0])
        if max(abs(slope_up), abs(slope_down)) < slope_ths:
            x0, y0 = p.min(axis=0)
            x1, y1 = p.max(axis=0)
            horizontal.append((x0, x1, y0, y1, 0.5 * (y0 + y1), y1 - y0))
        else:
            quads.append(_grow_quad(p, add_margin))

    rects = []
    for row in _split_rows(horizontal, ycenter_ths):
        for run in _merge_row(row, height_ths, width_ths):
            x0 = min(r[0] for r in run)
            x1 = max(r[1] for r in run)
            y0 = min(r[2] for r in run)
            y1 = max(r[3] for r in run)
            m = _line_margin(x1 - x0, y1 - y0, add_margin)
            rects.append((x0 - m, x1 + m, y0 - m, y1 + m))

    rects = [r for r in rects if max(r[1] - r[0], r[3] - r[2]) > min_size]
    quads = [
        q
        for q in quads
        if max(max(x for x, _ in q) - min(x for x, _ in q), max(y for _, y in q) - min(y for _, y in q)) > min_size
    ]
    return TextBoxes(rects=rects, quads=quads)
