"""What a trial stores and what is read from it: the trial record, the objectives, the front, the proxy's noise
figure, plots, and each trial's weights and YAML."""

from shapenas.search.faces import lazy

SURFACE = {  # module: the public names it defines (a name equal to its module's is the module)
    "record": ("record",),  # the trial record: what each trial stores, typed
    "pareto": ("pareto",),  # the front, its table and its comparison with the baseline
    "objectives": ("Objectives",),
    "noise": ("ProxyNoise", "study_noise"),
    "plots": ("plot_front", "plot_hypervolume"),
    "artifacts": ("remember_location", "location_of", "open_artifact_store"),
    "trial_files": ("fetch_weights", "has_weights", "model_yaml_of", "read_model_yaml"),
}
__all__ = [name for names in SURFACE.values() for name in names]
__getattr__, __dir__ = lazy(__name__, SURFACE)
