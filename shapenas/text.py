"""Small wording helpers for what shapenas prints."""

from __future__ import annotations


def count(number: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun, singular for exactly one: "1 epoch", "2 epochs"."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
