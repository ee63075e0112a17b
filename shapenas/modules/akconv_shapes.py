"""Initial sampled shapes for AKConv (arXiv 2311.11587, later renamed LDConv).

Paper: "AKConv: Convolutional Kernel with Arbitrary Sampled Shapes and Arbitrary
Number of Parameters", https://arxiv.org/abs/2311.11587

A shape is a tuple of N distinct integer ``(row, col)`` points. AKConv adds them to
each output cell's *top-left* anchor ``(i*s, j*s)`` before the learned offsets, so
the points are used exactly as given (translation changes what the layer samples).
Every named family below returns points already translated to min row = min col = 0
and sorted row-major, so ``canonical(f(n)) == f(n)``.
"""

from __future__ import annotations

import math
from typing import Callable

from shapenas.modules._checks import check_int, is_integer

Point = tuple[int, int]
Shape = tuple[Point, ...]

FREE_SHAPE = "free"  # the shape "family" a search space offers for any N distinct points in a window


def _check_n(n: int) -> None:
    check_int("AKConv shape", "n", n)


def canonical(points) -> Shape:
    """Translate so min row = min col = 0 and sort row-major.

    For search keys only: two shapes equal up to translation get the same key.
    """
    pts = [(int(r), int(c)) for r, c in points]
    if not pts:
        return ()
    r0 = min(r for r, _ in pts)
    c0 = min(c for _, c in pts)
    return tuple(sorted((r - r0, c - c0) for r, c in pts))


def regular(n: int) -> Shape:
    """The paper's default: b = round(sqrt(n)) columns, n // b full rows, then the
    n % b leftover points in one extra row starting at column 0 (row-major order)."""
    _check_n(n)
    b = round(math.sqrt(n))  # sqrt of an integer is never x.5, so no rounding tie
    rows, rest = divmod(n, b)
    pts = [(r, c) for r in range(rows) for c in range(b)]
    pts += [(rows, c) for c in range(rest)]
    return tuple(pts)


def line_h(n: int) -> Shape:
    """1 x n horizontal line: wide objects (e.g. vehicles seen from the side)."""
    _check_n(n)
    return tuple((0, c) for c in range(n))


def line_v(n: int) -> Shape:
    """n x 1 vertical line: tall objects (people, poles)."""
    _check_n(n)
    return tuple((r, 0) for r in range(n))


def band_h(n: int) -> Shape:
    """Two rows of ceil(n/2) points (the second may be shorter): a thick horizontal band."""
    _check_n(n)
    w = (n + 1) // 2
    return canonical((i // w, i % w) for i in range(n))


def band_v(n: int) -> Shape:
    """Two columns of ceil(n/2) points: a thick vertical band."""
    return canonical((c, r) for r, c in band_h(n))


def diagonal(n: int) -> Shape:
    """Main diagonal (i, i): objects oblique from top-left to bottom-right."""
    _check_n(n)
    return tuple((i, i) for i in range(n))


def anti_diagonal(n: int) -> Shape:
    """Anti-diagonal (i, n-1-i): objects oblique from top-right to bottom-left."""
    _check_n(n)
    return canonical((i, n - 1 - i) for i in range(n))


def cross(n: int) -> Shape:
    """A centre, then points alternately on a horizontal and a vertical arm through it
    (distances 1, 1, -1, -1, 2, 2, -2, -2, ...), so both arms grow evenly."""
    _check_n(n)
    pts = [(0, 0)]
    k = 0
    while len(pts) < n:
        d = k // 4 + 1
        sign = 1 if (k // 2) % 2 == 0 else -1
        pts.append((0, sign * d) if k % 2 == 0 else (sign * d, 0))
        k += 1
    return canonical(pts)


def _square_ring(r: int) -> list[Point]:
    """The 8r cells at Chebyshev distance r from (0, 0), clockwise from the top-left corner."""
    top = [(-r, c) for c in range(-r, r)]
    right = [(row, r) for row in range(-r, r)]
    bottom = [(r, c) for c in range(r, -r, -1)]
    left = [(row, -r) for row in range(r, -r, -1)]
    return top + right + bottom + left


def ring(n: int) -> Shape:
    """n points spread evenly over a square ring around a centre; the ring radius is the
    smallest r whose perimeter 8r holds n points (so it grows with n)."""
    _check_n(n)
    r = max(1, math.ceil(n / 8))
    perimeter = _square_ring(r)
    # step len/n >= 1, so the rounded indices are strictly increasing: all distinct
    idx = [(k * len(perimeter)) // n for k in range(n)]
    return canonical(perimeter[i] for i in idx)


FAMILIES: dict[str, Callable[[int], Shape]] = {
    "regular": regular,
    "line_h": line_h,
    "line_v": line_v,
    "band_h": band_h,
    "band_v": band_v,
    "diagonal": diagonal,
    "anti_diagonal": anti_diagonal,
    "cross": cross,
    "ring": ring,
}


def _as_int(v, shape) -> int:
    if not is_integer(v):
        raise ValueError(f"AKConv shape: coordinates must be integers, got {v!r} in {shape!r}")
    return int(v)


def _explicit(shape, n: int) -> Shape:
    """Validate an explicit list of n [row, col] pairs."""
    pts = list(shape)
    if len(pts) != n:
        raise ValueError(f"AKConv shape: expected {n} [row, col] points (num_param), got {len(pts)}: {shape!r}")
    out: list[Point] = []
    for p in pts:
        if isinstance(p, (str, bytes)) or not hasattr(p, "__len__") or len(p) != 2:
            raise ValueError(f"AKConv shape: each point must be a [row, col] pair, got {p!r}")
        out.append((_as_int(p[0], shape), _as_int(p[1], shape)))
    seen: set[Point] = set()
    for p in out:
        if p in seen:
            raise ValueError(f"AKConv shape: duplicate point {list(p)} in {shape!r}")
        seen.add(p)
    return tuple(out)


def resolve_shape(shape, n: int) -> Shape:
    """None -> regular(n); a family name -> FAMILIES[name](n); a list of n [row, col]
    pairs -> those points as given (not translated). ValueError names the bad value."""
    _check_n(n)
    if shape is None:
        return regular(n)
    if isinstance(shape, str):
        if shape not in FAMILIES:
            raise ValueError(f"AKConv shape: unknown family {shape!r}; known: {', '.join(FAMILIES)}")
        return FAMILIES[shape](n)
    if not hasattr(shape, "__iter__"):
        raise ValueError(f"AKConv shape: expected None, a family name or a list of [row, col], got {shape!r}")
    return _explicit(shape, n)


def ascii_grid(points) -> str:
    """'#' for a point and '.' elsewhere, one line per row (translated to the bounding box)."""
    pts = set(canonical(points))
    if not pts:
        return ""
    rows = max(r for r, _ in pts) + 1
    cols = max(c for _, c in pts) + 1
    return "\n".join("".join("#" if (r, c) in pts else "." for c in range(cols)) for r in range(rows))


# -- starting from a trained 3x3 convolution (see AKConv.init_from_conv) ------------------------------------------
WINDOW: Shape = tuple((r, c) for r in (-1, 0, 1) for c in (-1, 0, 1))  # a padded 3x3 conv's taps around its centre


def window_shift(points, tap_energy) -> Point:
    """The integer (row, col) shift that lands the most tap energy under the points.

    AKConv anchors its points at each output cell's top-left, a padded 3x3 convolution centres its window, so a shape
    is first moved onto the window. `tap_energy[r + 1][c + 1]` weighs tap (r, c). Ties go to the shift that keeps the
    points closest to the window's centre, then to the first in row-major order.
    """
    pts = [(int(r), int(c)) for r, c in points]
    best: tuple | None = None
    for dr in range(-1 - max(r for r, _ in pts), 2 - min(r for r, _ in pts)):
        for dc in range(-1 - max(c for _, c in pts), 2 - min(c for _, c in pts)):
            moved = [(r + dr, c + dc) for r, c in pts]
            landed = sum(tap_energy[r + 1][c + 1] for r, c in moved if (r, c) in WINDOW)
            spread = sum(abs(r) + abs(c) for r, c in moved)
            score = (landed, -spread)
            if best is None or score > best[0]:
                best = (score, (dr, dc))
    return best[1]


def tap_shares(points, shift: Point) -> list[list[tuple[Point, float]]]:
    """Per point: the window taps whose weight it takes, with the share of each.

    A point that lands on a tap takes that tap. A tap no point lands on is split evenly among the landed points
    nearest to it (for smooth feature maps a neighbour's sample stands in for the missing one). Points off the window
    take nothing.
    """
    moved = [(int(r) + shift[0], int(c) + shift[1]) for r, c in points]
    shares: list[list[tuple[Point, float]]] = [[] for _ in moved]
    landed = {p: n for n, p in enumerate(moved) if p in WINDOW}
    for tap in WINDOW:
        if tap in landed:
            shares[landed[tap]].append((tap, 1.0))
            continue
        if not landed:
            continue
        distance = {p: (p[0] - tap[0]) ** 2 + (p[1] - tap[1]) ** 2 for p in landed}
        nearest = [p for p, d in distance.items() if d == min(distance.values())]
        for p in nearest:
            shares[landed[p]].append((tap, 1.0 / len(nearest)))
    return shares
