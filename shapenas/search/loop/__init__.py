"""One process's search: the study, the parent every candidate starts from, the proxy's noise runs, and the trial
loop (`runner.run_trials`, whose steps are named there; one trial from ask to tell is `trial_run.run_trial`)."""

from shapenas.search.faces import lazy

SURFACE = {
    "run_trials": "runner",
    "enqueue_presets": "runner",
    "make_objective": "runner",
    "latency_evaluator": "runner",
    "Progress": "runner",
    "Objective": "objective",
    "Evaluators": "objective",
    "Hooks": "objective",
    "StudyContext": "context",
    "create_or_continue": "study",
    "load_existing": "study",
    "make_sampler": "study",
    "propose": "proposal",
    "akconv_grids": "proposal",
    "render": "proposal",
    "Parent": "parent",
    "ParentRecord": "parent",
    "prepare_parent": "parent",
    "train_parent": "parent",
    "check_parent_config": "parent",
    "release_stopped_maker": "parent",
}
__all__ = list(SURFACE)
__getattr__, __dir__ = lazy(__name__, SURFACE)
