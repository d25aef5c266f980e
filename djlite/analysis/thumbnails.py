"""Thumbnails for the report: which videos to show for a stat, and one representative frame of each.

For each stat the report shows the videos at the low and high ends and, for each threshold, the videos
closest to it on either side, so a person sees what the threshold removes and what it keeps. Values are
per video (a stat's list is aligned with the sample's videos), so the thumbnail is the video that has the
value, not just the sample's first one.

The representative frame is the middle one, rotated as a player shows it (djlite.video.thumbnail). It is
the only decoding dj-analyze does, once per video however many stats show it, and only for the videos shown.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from djlite.analysis.overall import StatValues
from djlite.analysis.thresholds import Bound
from djlite.errors import VideoError
from djlite.video.thumbnail import middle_frame

THUMB_WIDTH = 200


@dataclass(frozen=True)
class Example:
    group: str  # "lowest", "highest", or the threshold, e.g. "min_duration=2 (step 0)"
    value: float
    row: int  # sample (row of the stats file)
    position: int  # index of the video in the sample, -1 for a per-sample stat
    verdict: str = ""  # for threshold examples: "kept" or "removed" by that step's range


def video_for(example: Example, videos: list[list[str]]) -> str | None:
    paths = videos[example.row] if example.row < len(videos) else []
    if not paths:
        return None
    return paths[example.position] if 0 <= example.position < len(paths) else paths[0]


def pick_examples(stat: StatValues, bounds: list[Bound], per_end: int = 3, per_side: int = 2) -> list[Example]:
    """The videos to show for one stat: `per_end` at each end, `per_side` either side of each threshold."""
    if not stat.values.size:
        return []
    order = np.argsort(stat.values, kind="stable")

    def example(i, group, verdict=""):
        return Example(group, float(stat.values[i]), int(stat.rows[i]), int(stat.positions[i]), verdict)

    out = [example(i, "lowest") for i in order[:per_end]]
    out += [example(i, "highest") for i in order[::-1][:per_end] if i not in order[:per_end]]
    for bound in bounds:
        for label, x in bound.lines:
            below = [i for i in order[::-1] if stat.values[i] < x][:per_side]
            at_or_above = [i for i in order if stat.values[i] >= x][:per_side]
            group = f"{label} (step {bound.step})"
            for i in below[::-1] + at_or_above:
                verdict = "kept" if bound.inside(float(stat.values[i])) else "removed"
                out.append(example(i, group, verdict))
    return out


def middle_frame_jpeg(path: str, width: int = THUMB_WIDTH) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height) of the video's middle frame, as displayed; VideoError if none decodes."""
    image = middle_frame(path)
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    interpolation = cv2.INTER_AREA if image.shape[1] > width else cv2.INTER_NEAREST
    image = cv2.resize(image, (width, height), interpolation=interpolation)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    if not ok:
        raise VideoError(f"cannot encode a thumbnail: {path}")
    return data.tobytes(), width, height
