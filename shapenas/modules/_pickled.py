"""Checkpoints written before an attribute was renamed.

Ultralytics checkpoints pickle whole module objects, so unpickling restores the attribute names of the code that
wrote them. A module whose plain attribute was renamed (AKConv `stride` -> `s`, ODConv and DynamicConv `g` ->
`groups`) maps the old name in `__setstate__`; parameter and buffer names, and so state_dict keys, never changed.
"""

from __future__ import annotations


def renamed_attributes(state: dict, renames: dict[str, str]) -> dict:
    """`state` (an unpickled module `__dict__`) with each old attribute name in `renames` moved to its new name."""
    for old, new in renames.items():
        if old in state and new not in state:
            state[new] = state.pop(old)
    return state
