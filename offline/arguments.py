"""Command-line argument types that refuse what argparse's `float`/`int` let through (`nan`, `inf`, `1e999`,
negative counts), so a bad argument is a usage error (exit 2) naming the argument, never a traceback."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def _plain(x: float) -> str:
    return f"{int(x):,}" if x == int(x) else f"{x:g}"


def number(low: float, high: float):
    """A finite number in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a finite number from {_plain(low)} to {_plain(high)} "
                                             f"(got {text!r})")
        return value

    return parse


def whole_number(low: int, high: int):
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high} (got {text!r})")
        return value

    return parse


def output_file(text: str) -> str:
    """A file the command will write when it is done: refused now rather than after the work."""
    path = Path(text)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text} (its directory does not exist or is not writable)")
    return text
