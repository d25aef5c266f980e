"""Reading a jsonl dataset file line by line with `jsonlines`, and deciding which lines are samples.

A line becomes a load error record (never a crash, never a silent drop) when it is not UTF-8, not one JSON
object, has a duplicate key, NaN or Infinity, a reserved djlite column, a media entry that is not a path string,
or a value whose JSON type differs from the type the same key has on earlier lines (Arrow would otherwise
JSON-encode that whole column, rewriting every other row's value).
"""

import json
import math

import jsonlines

from djlite.errors import SampleError
from djlite.fields import INTERNAL_COLUMNS, Fields

# Columns djlite writes. __dj__stats__ may come in (a result file re-run keeps its stats) but only as an object.
RESERVED_INPUT_KEYS = (Fields.errors, *INTERNAL_COLUMNS)
LINE_CHARS_KEPT = 10000


class LineError(SampleError, ValueError):
    """A dataset line that is not a usable sample: it becomes a load error record (djlite/dataset.py)."""


def _no_duplicates(pairs):
    row = {}
    for key, value in pairs:
        if key in row:
            raise LineError(f"duplicate key {key!r}")
        row[key] = value
    return row


def _no_nan(constant):
    raise LineError(f"{constant} is not valid JSON; write null or a number")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_nan)


def strict_loads(line: str):
    return _DECODER.decode(line)


_KIND = {str: "a string", bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


def shape(value):
    """A value's JSON type, recursively: None for null, a name for scalars, ('list', items), ('dict', {k: ...})."""
    if value is None:
        return None
    if isinstance(value, list):
        items = None
        for item in value:
            items = merge_shapes(items, shape(item))
        return ("list", items)
    if isinstance(value, dict):
        return ("dict", {k: shape(v) for k, v in value.items()})
    return _KIND[type(value)]


def conforms(value, seen) -> bool:
    """True when `value` fits the shape already seen without changing it (the common case, checked cheaply)."""
    if value is None:
        return True
    if seen is None:
        return False
    if seen.__class__ is str:
        return _KIND.get(value.__class__) == seen
    if seen[0] == "list":
        if value.__class__ is not list:
            return False
        items = seen[1]
        if items.__class__ is str:
            kind = _KIND.get
            for item in value:
                if item is not None and kind(item.__class__) != items:
                    return False
            return True
        for item in value:
            if not conforms(item, items):
                return False
        return True
    if value.__class__ is not dict:
        return False
    fields = seen[1]
    for k, v in value.items():
        if k not in fields or not conforms(v, fields[k]):
            return False
    return True


def merge_shapes(a, b):
    """The shape both values fit in; LineError when their JSON types differ (a string here, a number there)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, str) or isinstance(b, str):
        if a != b:
            raise LineError(f"{describe(b)} here but {describe(a)} on earlier lines")
        return a
    if a[0] != b[0]:
        raise LineError(f"{describe(b)} here but {describe(a)} on earlier lines")
    if a[0] == "list":
        return ("list", merge_shapes(a[1], b[1]))
    merged = dict(a[1])
    for key, value in b[1].items():
        try:
            merged[key] = merge_shapes(merged.get(key), value)
        except LineError as e:
            raise LineError(f"in {key!r}: {e}") from None
    return ("dict", merged)


def describe(s) -> str:
    if s is None or isinstance(s, str):
        return s or "null"
    return "a list" if s[0] == "list" else "an object"


def check_media(row: dict, video_key: str) -> None:
    videos = row.get(video_key)
    if videos is None or isinstance(videos, str):
        return
    if not isinstance(videos, list) or not all(isinstance(v, str) for v in videos):
        raise LineError(f"{video_key!r} must be a path string or a list of path strings, got {videos!r}"[:300])


def check_text(row: dict) -> None:
    """Lone surrogates (a JSON escape like \\udc80) cannot be written back as UTF-8."""
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise LineError(f"a string holds a character that is not valid UTF-8 ({e.reason})") from None


def has_nan(value) -> bool:
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, list):
        return any(has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(has_nan(v) for v in value.values())
    return False


def error_record(path: str, number: int, line, message: str, unit: str = "line") -> dict:
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="backslashreplace")
    return {
        "line": str(line).rstrip("\n")[:LINE_CHARS_KEPT],
        Fields.errors: [{"op": "load", "error": f"InvalidLine: {path} {unit} {number}: {message}"}],
    }


class _Numbered:
    """The file's lines, remembering the number of the last one handed out (jsonlines does not expose it)."""

    def __init__(self, f):
        self.f = f
        self.number = 0

    def __iter__(self):
        for number, line in enumerate(self.f, 1):
            self.number = number
            yield line


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_stats(stats, stat_kinds: dict) -> None:
    """Stats carried in from an earlier run must have the types djlite's ops write, or the stage cannot cast them."""
    if not isinstance(stats, dict):
        raise LineError(f"{Fields.stats!r} must be an object of stats, got {stats!r}"[:300])
    for key, value in stats.items():
        kind = stat_kinds.get(key)
        if value is None or kind is None:
            continue
        ok = _is_number(value) if kind == "number" else isinstance(value, list) and all(map(_is_number, value))
        if not ok:
            want = "a number" if kind == "number" else "a list of numbers, one per video"
            raise LineError(f"stat {key!r} must be {want}, got {value!r}"[:300])


def read_jsonl(path: str, video_key: str, shapes: dict, stat_kinds: dict | None = None):
    """Yield (line_number, error_record or None) for every non-blank line of `path`.

    `shapes` maps each key to the JSON shape seen so far; it is shared across the files of one dataset.
    `stat_kinds` maps a stat key to "number" or "numbers" (a list), as the ops write it.
    """
    stat_kinds = stat_kinds or {}
    with open(path, "rb") as f:
        lines = _Numbered(f)
        raw = {}

        def remember(line):
            raw["line"] = line
            return line

        reader = jsonlines.Reader((remember(line) for line in lines), loads=strict_loads)
        while True:
            try:
                row = reader.read(type=dict, skip_empty=True)
            except EOFError:
                return
            except jsonlines.InvalidLineError as e:
                cause = e.__cause__
                message = str(cause) if isinstance(cause, LineError) else str(e).removesuffix(f" (line {e.lineno})")
                if message == "line does not match requested type":
                    message = "a sample is a JSON object {...}"
                yield e.lineno, error_record(path, e.lineno, e.line, message)
                continue
            number, line = lines.number, raw["line"]
            try:
                check_row(
                    row, video_key, shapes, stat_kinds, maybe_surrogates=b"\\u" in line and b"\\ud" in line.lower()
                )
            except LineError as e:
                yield number, error_record(path, number, line, str(e))
                continue
            yield number, None


def check_row(row: dict, video_key: str, shapes: dict, stat_kinds: dict, maybe_surrogates: bool = True) -> None:
    """LineError when `row` is not a usable sample; otherwise record its keys' shapes in `shapes`."""
    reserved = [k for k in RESERVED_INPUT_KEYS if k in row]
    if reserved:
        raise LineError(f"{reserved[0]!r} is a column djlite writes; rename it in the input")
    if Fields.stats in row:
        check_stats(row[Fields.stats], stat_kinds)
    check_media(row, video_key)
    if maybe_surrogates:
        check_text(row)
    merged = {
        key: _merge_key(key, shapes.get(key), value)
        for key, value in row.items()
        if not conforms(value, shapes.get(key))
    }
    shapes.update(merged)


def read_json_array(path: str, video_key: str, shapes: dict, stat_kinds: dict | None = None):
    """A .json file holding a list of samples -> (the good samples, error records for the others).

    The good samples are None when there is no bad one (the file is loaded as it is), and also when the file
    is not a list (an object of columns, say), which is left to `datasets`.
    """
    stat_kinds = stat_kinds or {}
    with open(path, "rb") as f:
        data = strict_loads(f.read().decode("utf-8"))  # ValueError (UnicodeDecodeError too) for a broken file
    if not isinstance(data, list):
        return None, []
    good, errors = [], []
    for number, row in enumerate(data, 1):
        try:
            if not isinstance(row, dict):
                raise LineError("a sample is a JSON object {...}")
            check_row(row, video_key, shapes, stat_kinds)
        except LineError as e:
            errors.append(error_record(path, number, json.dumps(row, ensure_ascii=True), str(e), unit="item"))
            continue
        good.append(row)
    return (good if errors else None), errors


def _merge_key(key, seen, value):
    try:
        return merge_shapes(seen, shape(value))
    except LineError as e:
        raise LineError(f"key {key!r}: {e}") from None
