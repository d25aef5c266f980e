"""A test op that raises one chosen exception on the samples whose text holds `raise_on`, for tests/test_errors.py.

Not registered on import (the op reference and other tests see djlite's own ops only): `register()` does it, in
a test's own process or in the small dj-process driver that test runs.
"""

import errno

from djlite.errors import OpBugError
from djlite.ocr import OCRBackendError
from djlite.ops.base import Mapper
from djlite.registry import OPERATORS, register_op

NAME = "test_raise_mapper"


def make(kind: str) -> BaseException:
    """The exception of each kind: what an op's code or a library inside it raises."""
    return {
        "value": ValueError("a value of the sample the op cannot use"),
        "bug": AttributeError("'NoneType' object has no attribute 'width'"),
        "op_bug": OpBugError("the op's own check: its state is broken"),
        "full_disk": OSError(errno.ENOSPC, "No space left on device", "/full/disk/frame.jpg"),
        "setup": OCRBackendError("OCR backend 'rapidocr' needs onnxruntime, not installed: pip install 'djlite[ocr]'"),
    }[kind]


class TestRaiseMapper(Mapper):
    """Appends " ok" to each text; raises `make(kind)` instead on a text containing `raise_on`."""

    def __init__(self, raise_on: str = "boom", kind: str = "value", **kwargs):
        super().__init__(**kwargs)
        self.raise_on, self.kind = raise_on, kind

    def process(self, sample, context=None):
        if self.raise_on in sample[self.text_key]:
            raise make(self.kind)
        sample[self.text_key] += " ok"
        return sample


def register() -> None:
    register_op(NAME)(TestRaiseMapper)


def unregister() -> None:
    OPERATORS.pop(NAME, None)
