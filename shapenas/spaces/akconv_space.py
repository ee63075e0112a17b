"""AKConv initial sampled shapes as Optuna parameters: named families, or free-form points in a window.

Free-form encoding: point k is a categorical `<prefix>.cell<k>` over the W*W cells of the window (cell = row*W + col).
A cell already taken by an earlier point moves to the next free cell (row-major, wrapping), so every sample is N
distinct points: no rejection, no wasted trial, and the sampler still sees each point's own choice. The result is
canonicalised (translated to min row = min col = 0, sorted), so shapes equal up to translation are one candidate.
"""

from __future__ import annotations

from math import comb

from shapenas.modules.akconv_shapes import FAMILIES, FREE_SHAPE, Shape, canonical


def cells_to_points(cells: list[int], window: int) -> Shape:
    """Distinct canonical points from per-point cells; collisions move to the next free cell."""
    taken: set[int] = set()
    for cell in cells:
        while cell in taken:
            cell = (cell + 1) % (window * window)
        taken.add(cell)
    return canonical(divmod(cell, window) for cell in taken)


def fits(points: Shape, window: int) -> bool:
    """Whether a canonical shape lies inside a window x window square."""
    return all(r < window and c < window for r, c in points)


def free_shape_count(n: int, window: int) -> int:
    """Shapes of n distinct points in the window, up to translation: subsets touching both row 0 and column 0."""
    full, one_side, neither = window * window, window * (window - 1), (window - 1) ** 2
    return comb(full, n) - 2 * comb(one_side, n) + comb(neither, n)


class ShapeChoices:
    """The shapes one AKConv slot may start from: some named families and/or free-form points."""

    def __init__(self, shapes: list[str], window: int):
        self.families = [name for name in shapes if name in FAMILIES]
        self.free = FREE_SHAPE in shapes
        self.window = window
        self.labels = self.families + ([FREE_SHAPE] if self.free else [])

    def _family_points(self, name: str, n: int) -> Shape:
        return canonical(FAMILIES[name](n))

    def suggest(self, trial, prefix: str, n: int) -> tuple[str, Shape]:
        """(label, canonical points) for n points, drawn with `<prefix>.shape` and, if free, `<prefix>.cell<k>`."""
        label = pick(trial, f"{prefix}.shape", self.labels)
        if label != FREE_SHAPE:
            return label, self._family_points(label, n)
        cells = list(range(self.window * self.window))
        chosen = [trial.suggest_categorical(f"{prefix}.cell{k}", cells) for k in range(n)]
        return label, cells_to_points(chosen, self.window)

    def to_params(self, label: str, points: Shape, prefix: str) -> dict:
        """The params `suggest` turns back into these points; `ValueError` when the shape is not in this space."""
        n = len(points)
        named = [label] if label in self.families else []
        for name in named + self.families:
            if self._family_points(name, n) == points:
                return put({}, f"{prefix}.shape", self.labels, name)
        if self.free and fits(points, self.window):
            params = put({}, f"{prefix}.shape", self.labels, FREE_SHAPE)
            params.update({f"{prefix}.cell{k}": r * self.window + c for k, (r, c) in enumerate(points)})
            return params
        raise ValueError(f"AKConv shape {[list(p) for p in points]} is not in this space ({', '.join(self.labels)})")

    def count(self, n: int) -> int:
        """Distinct shapes of n points (families that coincide, or lie inside the free window, count once)."""
        shapes = {self._family_points(name, n) for name in self.families}
        if not self.free:
            return len(shapes)
        return free_shape_count(n, self.window) + sum(not fits(shape, self.window) for shape in shapes)

    def describe(self) -> str:
        return ",".join(self.families + ([f"free{self.window}x{self.window}"] if self.free else []))


def pick(trial, name: str, values: list):
    """`suggest_categorical`, skipped when there is nothing to choose (so no constant parameter clutters a study)."""
    return values[0] if len(values) == 1 else trial.suggest_categorical(name, values)


def put(params: dict, name: str, values: list, value) -> dict:
    """The inverse of `pick`: record `value` under `name` unless `pick` would not have asked."""
    if value not in values:
        raise ValueError(f"{name}: {value!r} is not one of {values}")
    if len(values) > 1:
        params[name] = value
    return params
