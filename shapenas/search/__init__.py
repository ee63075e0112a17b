"""The search, in four packages (docs/LAYOUT.md draws them):

- `loop`: one process's search: the study, the parent, the proxy's noise runs, and each trial from ask to tell;
- `fleet`: many processes on one storage: storages that wait out outages, leases, claims, the shared budget, results
  that could not be written yet;
- `results`: what a trial stores and what is read from it: the trial record, objectives, the front, plots, files;
- `verify`: the front trained again at a higher budget, with seeds, and the paired verdict.

Commands import these packages' faces (their `__init__`); modules inside import each other directly.
"""
