"""What a trial stores and what is read from it: the trial record, the objectives, the front, the proxy's noise
figure, plots, and each trial's weights and YAML."""

from shapenas.search.faces import lazy

SURFACE = {
    "record": "record",  # the trial record: what each trial stores, typed
    "pareto": "pareto",  # the front, its table and its comparison with the baseline
    "Objectives": "objectives",
    "ProxyNoise": "noise",
    "study_noise": "noise",
    "plot_front": "plots",
    "plot_hypervolume": "plots",
    "remember_location": "artifacts",
    "location_of": "artifacts",
    "open_artifact_store": "artifacts",
    "fetch_weights": "trial_files",
    "has_weights": "trial_files",
    "model_yaml_of": "trial_files",
    "read_model_yaml": "trial_files",
}
__all__ = list(SURFACE)
__getattr__, __dir__ = lazy(__name__, SURFACE)
