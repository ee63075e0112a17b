"""The front trained again at a higher budget, each trial with the baseline at the same seeds: the jobs (shared by
every process through claims), the paired test, the verdicts and their report and plot."""

from shapenas.search.faces import lazy

SURFACE = {  # module: the public names it defines (a name equal to its module's is the module)
    "jobs": ("Verification", "choose", "verify_config"),
    "reporting": ("report", "pick_budget", "rows"),
    "plot": ("plot_verified",),
    "paired": ("MIN_PAIRS",),
}
__all__ = [name for names in SURFACE.values() for name in names]
__getattr__, __dir__ = lazy(__name__, SURFACE)
