"""One representative frame of a video, as a player shows it: for previews such as dj-analyze's report.

The middle frame is the reader's uniform(1) plan: the first frame at or after half the duration, found by
the reader's checked seek (or a sequential pass where seeking cannot be trusted), rotation applied. In a
truncated file whose middle does not decode, the last frame that did decode stands in; a file with no
decodable frame is a VideoError.
"""

import numpy as np

from djlite.video.reader import decode_plan
from djlite.video.sampling import uniform


def middle_frame(path: str) -> np.ndarray:
    """The frame in the middle of the first video stream, RGB, rotated for display; VideoError if none decodes."""
    return decode_plan(path, uniform(1))[0].rgb()
