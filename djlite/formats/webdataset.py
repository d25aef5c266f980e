"""export_type webdataset (an export path ending in .tar): tar shards <base>-000000.tar of <key>.json (the sample with
its stats) plus <key>.<i>.jpg frames, or <key>.<ext> (the clip itself) with payload: clip.

Options (export_extra_args): the frame and label options of every layout (djlite/formats/layout.py), payload
(frames or clip), shard_records (samples per shard), clip_start / clip_end.
"""

import io
import os
import tarfile

from djlite.errors import RecipeError
from djlite.files import commit_file, exclusive_temp
from djlite.formats.example import Blob
from djlite.formats.keys import RecordKeys, sample_id
from djlite.formats.layout import FRAME_OPTIONS, LABEL_OPTIONS, Layout
from djlite.formats.spool import EXPORT_FRAMES
from djlite.formats.tables import _dumps
from djlite.formats.writer import register_writer

# In each WebDataset sample's .json: the key its members are stored under (WebDataset's own `__key__`), beside the
# sample's original `id` (djlite/formats/keys.py says how one becomes the other).
SAMPLE_KEY = "__key__"


@register_writer("webdataset")
class WebDatasetLayout(Layout):
    suffix = ".tar"
    shards = "tar"
    defaults = {
        **FRAME_OPTIONS,
        **LABEL_OPTIONS,
        "payload": "frames",  # or "clip": the video file itself as <key>.<ext>, no frames decoded
        "shard_records": 1000,  # samples per tar shard
        "clip_start": None,
        "clip_end": None,
    }

    def __init__(self, options, where="export_extra_args"):
        super().__init__(options, where)
        if self.options["payload"] not in ("frames", "clip"):
            raise RecipeError(f"{where}: payload must be frames or clip, got {self.options['payload']!r}")
        self.needs_frames = self.options["payload"] == "frames"

    def write(self, rows, export_path):
        paths = self.paths(export_path)
        per_shard = self.options["shard_records"] or 1 << 62
        keys = RecordKeys(self.name, member_names=True)
        temps: list[tuple[str, str]] = []
        tar = None
        try:
            for n, row in enumerate(rows()):
                if n % per_shard == 0:
                    if tar is not None:
                        tar.close()
                    tar = self._open_shard(paths, temps)
                key = keys.key(sample_id(row) or f"{n:09d}")
                spools = row.pop(EXPORT_FRAMES, None) or []
                meta = dict(row)
                if spools:
                    meta["frames"] = [{"video": s["path"], "timestamps_us": s["timestamps"]} for s in spools]
                meta[SAMPLE_KEY] = key
                _add(tar, f"{key}.json", _dumps(meta).encode("utf-8"))
                if self.options["payload"] == "clip":
                    for k, path in enumerate(row.get("videos") or []):
                        ext = os.path.splitext(path)[1].lstrip(".").lower() or "bin"
                        _add_file(tar, f"{key}.{ext}" if k == 0 else f"{key}.{k}.{ext}", path)
                else:
                    i = 0
                    for spool in spools:
                        for off, length in zip(spool["offsets"], spool["lengths"]):
                            _add(tar, f"{key}.{i:04d}.jpg", Blob(spool["spool"], off, length).read())
                            i += 1
            if tar is None:
                tar = self._open_shard(paths, temps)
            tar.close()
            for tmp, final in temps:
                commit_file(tmp, final)
        except BaseException:
            if tar is not None:
                tar.close()
            for tmp, _ in temps:
                if os.path.exists(tmp):
                    os.remove(tmp)
            raise
        keys.report()
        return [final for _, final in temps]

    def _open_shard(self, paths, temps: list[tuple[str, str]]) -> tarfile.TarFile:
        final = paths.tar_shard(len(temps))
        tmp = exclusive_temp(final)
        temps.append((tmp, final))
        # The pax format writes a plain USTAR header for a name that fits one (every bounded key with the usual
        # suffixes) and a pax header only for a longer or non-ASCII name, so no member name aborts the export.
        return tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # the same samples give the same bytes
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    info = tar.gettarinfo(path, arcname=name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    with open(path, "rb") as f:
        tar.addfile(info, f)
