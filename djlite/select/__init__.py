"""Diverse selection: k-center greedy (coreset), random and every-Nth baselines, and the selection report.

Pure numpy on arrays of vectors; the selector ops (djlite/ops/selector/) and the `diverse` frame sampling use
these functions, and so can a user's own script.
"""

from djlite.select.kcenter import KCenterResult, budget_count, every_nth, k_center_greedy, random_subset

__all__ = ["KCenterResult", "budget_count", "every_nth", "k_center_greedy", "random_subset"]
