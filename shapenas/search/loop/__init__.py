"""One process's search: the study, the parent every candidate starts from, the proxy's noise runs, and the trial
loop (`runner.run_trials`, whose steps are named there; one trial from ask to tell is `trial_run.run_trial`)."""

from shapenas.search.faces import lazy

SURFACE = {  # module: the public names it defines (a name equal to its module's is the module)
    "context": ("StudyContext",),
    "runner": ("run_trials", "enqueue_presets", "make_objective", "latency_evaluator", "Progress"),
    "objective": ("Objective", "Evaluators", "Hooks"),
    "study": ("create_or_continue", "load_existing", "make_sampler"),
    "proposal": ("propose", "akconv_grids", "render"),
    "parent": ("Parent", "ParentRecord", "prepare_parent", "train_parent", "check_parent_config"),
}
__all__ = [name for names in SURFACE.values() for name in names]
__getattr__, __dir__ = lazy(__name__, SURFACE)
