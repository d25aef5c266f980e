"""Reserved column names and stat keys, shared with Data-Juicer's file formats."""


class Fields:
    stats = "__dj__stats__"
    meta = "__dj__meta__"
    # One entry per op that failed on the sample: {"op": name, "step": i, "error": "ExcType: message"}.
    errors = "__dj__errors__"
    # Internal, never exported: the recipe step that dropped the sample (-1 when kept), why ("filtered"
    # or "error"), and the seconds each step of the stage spent on it.
    dropped_by = "__dj__dropped_by__"
    drop_kind = "__dj__drop_kind__"
    op_seconds = "__dj__op_seconds__"
    # Internal, never exported: where a training layout's frames wait in the spool (djlite/formats/spool.py).
    export_frames = "__dj__export_frames__"


class StatsKeys:
    video_duration = "video_duration"
    video_decodable_duration = "video_decodable_duration"
    video_width = "video_width"
    video_height = "video_height"
    video_rotation = "video_rotation"
    video_aspect_ratios = "video_aspect_ratios"
    video_motion_score = "video_motion_score"
    video_ocr_area_ratio = "video_ocr_area_ratio"


class HashKeys:
    videohash = "__dj__videohash"
    hash = "__dj__hash"
    # djlite's video_near_deduplicator: per video, perceptual frame hashes on a time grid.
    videosig = "__dj__videosig"


INTERNAL_COLUMNS = (Fields.dropped_by, Fields.drop_kind, Fields.op_seconds)
HASH_COLUMNS = (HashKeys.videohash, HashKeys.hash, HashKeys.videosig)
