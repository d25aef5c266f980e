"""Run a filter the way Data-Juicer's own tests do: compute stats on every sample, then keep by process."""

from djlite.fields import Fields


def keep(op, video_lists) -> list[list[str]]:
    kept = []
    for videos in video_lists:
        sample = op.compute_stats({"videos": [str(v) for v in videos], Fields.stats: {}})
        if op.process(sample):
            kept.append(videos)
    return kept
