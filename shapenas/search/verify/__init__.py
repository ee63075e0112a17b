"""The front trained again at a higher budget, each trial with the baseline at the same seeds: the jobs (shared by
every process through claims), the paired test, the verdicts and their report and plot."""

from shapenas.search.faces import lazy

SURFACE = {
    "Verification": "jobs",
    "choose": "jobs",
    "verify_config": "jobs",
    "report": "report",
    "pick_budget": "report",
    "rows": "report",
    "plot_verified": "plot",
    "MIN_PAIRS": "paired",
}
__all__ = list(SURFACE)
__getattr__, __dir__ = lazy(__name__, SURFACE)
