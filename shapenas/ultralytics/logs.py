"""Ultralytics' logger: its per-batch progress bars and banners are hidden unless the user asks for them."""

from __future__ import annotations

import logging


def show_ultralytics_output(verbose: bool) -> None:
    """INFO (progress bars, banners) when `verbose`, else warnings and errors only."""
    from ultralytics.utils import LOGGER

    LOGGER.setLevel(logging.INFO if verbose else logging.WARNING)
