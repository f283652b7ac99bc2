"""Argument types of the ``dpg`` commands: counts, seeds and positive numbers, each refusing
bad text with a message argparse prints as one line (``tests/test_bad_input.py``)."""

from __future__ import annotations

import argparse


def whole_number(text: str) -> int:
    """An argparse ``type``: an integer, whatever its sign."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def count(minimum: int = 1, maximum: int | None = None):
    """An argparse ``type``: an integer of at least ``minimum`` (a count of people, steps...)
    and, where given, at most ``maximum``."""

    def parse(text: str) -> int:
        value = whole_number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is too large: at most {maximum}")
        return value

    parse.__name__ = "count"  # argparse names the type in its messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a number above 0 (a learning rate, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def seed(text: str) -> int:
    """An argparse ``type``: a random seed, 0 <= seed < 2**63 (what ``torch.Generator`` takes)."""
    value = whole_number(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed {value} is outside 0 .. 2**63 - 1")
    return value
