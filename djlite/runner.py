"""Compatibility names: the local executor lives in djlite/executors/local.py, the stage and the accounting
both executors share in djlite/core/."""

from djlite.core.accounting import OpReport, RunOutcome
from djlite.core.stage import ERROR_FEATURE, SampleStage, split_stages, stage_features
from djlite.executors.local import Runner, opencv_threads

__all__ = [
    "ERROR_FEATURE",
    "OpReport",
    "RunOutcome",
    "Runner",
    "SampleStage",
    "opencv_threads",
    "split_stages",
    "stage_features",
]
