"""Seeded random draws for the procedural renderer (``dpg.data.synthetic``).

Each factor (appearance, background, pose) is a pure function of its own integer seed. The
samplers make a few dozen scalar choices each, a handful of times per image, so creation and
per-draw cost matter more than anything else: Python's Mersenne Twister (``random.Random``)
seeds in a few microseconds and draws in tens of nanoseconds, where a fresh
``numpy.random.default_rng`` costs about 20 us. Seeding an integer uses all its bits, and the
generator's output for a given seed is stable across Python versions. The factor tag in the
high bits keeps the three factors' streams apart even when their seeds are equal.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

# Factor tags mixed into the seed sequence (arbitrary distinct constants).
APPEARANCE, BACKGROUND, POSE = 0xA99E, 0xBAC6, 0x9053


class Draws:
    """Seeded draws for one factor: ``Draws(tag, seed)``, ``seed`` a non-negative integer
    below 2**64."""

    __slots__ = ("random",)

    def __init__(self, tag: int, seed: int):
        if not 0 <= seed < 2**64:
            raise ValueError(f"seeds are integers in [0, 2**64), got {seed}")
        self.random = random.Random((tag << 64) | int(seed)).random  # uniform in [0, 1)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def normal(self, mean: float = 0.0, std: float = 1.0, limit: float = 2.5) -> float:
        """Gaussian (Box-Muller), truncated at ``limit`` standard deviations."""
        z = math.sqrt(-2.0 * math.log(1.0 - self.random())) * math.cos(2.0 * math.pi * self.random())
        return mean + std * max(-limit, min(limit, z))

    def chance(self, p: float) -> bool:
        return self.random() < p

    def integer(self, n: int) -> int:
        """Uniform integer in ``range(n)``."""
        return min(int(self.random() * n), n - 1)

    def choice(self, items: Sequence, weights: Sequence[float] | None = None):
        if weights is None:
            return items[self.integer(len(items))]
        u = self.random() * sum(weights)
        for item, w in zip(items, weights):
            u -= w
            if u < 0:
                return item
        return items[-1]
