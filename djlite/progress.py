"""Short labels for progress bars: a stage of many ops is named by its first op and a count, not all names."""

MAX_LABEL_CHARS = 48


def stage_label(op_names: list[str]) -> str:
    """['video_duration_filter', 'video_motion_score_filter', ...] -> 'video_duration_filter +2 ops'."""
    if not op_names:
        return "stage"
    if len(op_names) == 1:
        return op_names[0][:MAX_LABEL_CHARS]
    rest = f" +{len(op_names) - 1} op" + ("s" if len(op_names) > 2 else "")
    return op_names[0][: MAX_LABEL_CHARS - len(rest)] + rest
