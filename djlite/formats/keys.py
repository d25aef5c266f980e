"""The key of every record an export writes: the WebDataset member prefix, MediaSequence's `example/id`,
YouTube-8M's `id` / `video_id`, video2tfrecord's `id`. One `RecordKeys` per export decides them all.

What a record asks for is its sample's `id` (`wanted_id`), else a name the layout gives (the video's file stem,
the sample's position). The key made of it is:

- sanitised: control characters (NUL, newline, tab, DEL ...), line separators and lone surrogates (which no
  UTF-8 file can hold) become `_`. Tar member names (`member_names=True`) also lose `/` and `\\` (a path, not
  a name) and `.`: WebDataset groups a sample's members by the name up to its first dot, so a dot inside a key
  would split the sample, and no key starts with a dot (a hidden file once extracted);
- bounded, for tar members: at most `MAX_MEMBER_KEY_BYTES` bytes of UTF-8, so that `<key>.<i>.jpg` and
  `<key>.json` fit the 100-byte name field of a plain USTAR header (most archives need no pax header at all;
  the writer uses the pax format, so an unusual suffix never aborts an export) and stay far below a file
  system's 255-byte name limit when extracted. A longer key keeps its first bytes and ends in `~` and 8 hex
  digits of a hash of the whole id, so different long ids stay different. TFRecord ids are protobuf bytes with
  no limit of their own and are not cut;
- unique within the export: a key already given gets `~2`, `~3`, ... (the first free one), in export order.

Why de-duplicate rather than refuse: a repeated id is what a dataset without unique ids, or a one-to-many
mapper that copies its parent's id, produces in perfectly good data; refusing would throw away a whole run at
its very last step, for a problem that has a lossless answer. The answer is never silent: the export logs one
warning line with the count and the first few ids (`report`), and a WebDataset sample's `.json` keeps the
original `id` next to the `__key__` it was stored under. The same rows in the same order give the same keys,
so an export is deterministic and the same under both executors.
"""

import hashlib
import os
import re

from loguru import logger

MAX_MEMBER_KEY_BYTES = 80
# Control characters (C0, DEL, C1), the Unicode line and paragraph separators, lone surrogates: never in a key.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_UNSAFE = re.compile(f"[{_CONTROL}]")
# Also never in a tar member's key: a path separator or a dot.
_UNSAFE_IN_MEMBER = re.compile(rf"[{_CONTROL}/\\.]")
_SHOWN = 5  # ids named in the warning


def sample_id(sample: dict) -> str | None:
    """The sample's `id` field as text, or None when it has none (a missing, null or empty id)."""
    value = sample.get("id")
    return None if value is None or value == "" else str(value)


def wanted_id(sample: dict, path: str, k: int, count: int) -> str:
    """What the record of video k (of `count`) of a sample asks to be called: its id, else the video's stem;
    `_<k>` appended when the sample has several videos."""
    base = sample_id(sample) or os.path.splitext(os.path.basename(path))[0]
    return base if count == 1 else f"{base}_{k}"


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` bytes of UTF-8 (never half a character)."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


class RecordKeys:
    """Sanitised, bounded, unique keys for one export's records (see the module docstring)."""

    def __init__(self, export: str, member_names: bool = False):
        self.export = export
        self.member_names = member_names
        self.limit = MAX_MEMBER_KEY_BYTES if member_names else None
        self.taken: set[str] = set()
        self.last_suffix: dict[str, int] = {}  # per sanitised id, the last n tried: n identical ids cost O(n)
        self.repeated = 0
        self.shown: list[tuple[str, str]] = []  # the first few (id asked for, key given), for the report
        self.cut = 0

    def _sanitised(self, wanted: str) -> str:
        return (_UNSAFE_IN_MEMBER if self.member_names else _UNSAFE).sub("_", wanted) or "_"

    def _bounded(self, text: str, wanted: str, suffix: str = "") -> str:
        """`text + suffix`, within the byte limit: a text too long is cut and tagged with a hash of `wanted`."""
        if self.limit is None or len((text + suffix).encode("utf-8")) <= self.limit:
            return text + suffix
        tag = "~" + _digest(str(wanted))
        return _cut(text, self.limit - len(tag) - len(suffix)) + tag + suffix

    def key(self, wanted: str) -> str:
        """The key of the next record, which asks for `wanted`."""
        wanted = str(wanted)
        text = self._sanitised(wanted)
        key = self._bounded(text, wanted)
        if key != text:
            self.cut += 1
        if key in self.taken:
            n = self.last_suffix.get(text, 1)
            while key in self.taken:
                n += 1
                key = self._bounded(text, wanted, f"~{n}")
            self.last_suffix[text] = n
            self.repeated += 1
            if len(self.shown) < _SHOWN:
                self.shown.append((wanted, key))
        self.taken.add(key)
        return key

    def report(self) -> None:
        """One warning line when keys had to be made unique or cut; nothing when every record got its id."""
        parts = []
        if self.repeated:
            shown = ", ".join(f"{_short(w)!r} -> {_short(k)!r}" for w, k in self.shown)
            more = f", and {self.repeated - len(self.shown)} more" if self.repeated > len(self.shown) else ""
            parts.append(
                f"{self.repeated} record(s) asked for a key already taken and got a ~<n> suffix ({shown}{more}); "
                f"unique ids in the samples avoid this"
            )
        if self.cut:
            parts.append(f"{self.cut} key(s) longer than {self.limit} bytes were cut and end in ~<hash>")
        if parts:
            suffix = "; the original id is in each sample's .json" if self.member_names else ""
            logger.warning(f"{self.export} export: {'; '.join(parts)}{suffix}")
