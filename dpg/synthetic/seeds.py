"""Every seed of the procedural renderer (``dpg.synthetic.people``): the splits' seed ranges,
the seed of each factor of each item (``factor_seed``), and the seeded draws a factor's
sampler makes from it (``Draws``).

Splits: every factor seed of split ``s`` lies in ``[s * 2**40, (s + 1) * 2**40)``, so the
``train``, ``val`` and ``test`` splits never share an appearance, background or pose seed;
within a split, seeds come from hashing ``(seed, factor, index)`` (SplitMix64).

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

SPLITS = ("train", "val", "test")
SEED_SPAN = 2**40  # seeds of split i lie in [i * SEED_SPAN, (i + 1) * SEED_SPAN)
FACTORS = ("appearance", "background", "pose")
_MASK64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    """SplitMix64's finaliser: a cheap, well-mixed 64-bit hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def factor_seed(split: str, factor: str, index: int, seed: int = 0) -> int:
    """The seed of ``factor`` (``"appearance"``, ``"background"``, ``"pose"``) for item or
    identity ``index`` of ``split``, inside the split's own seed range (module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be non-negative, got {index} and {seed}")
    h = _splitmix(_splitmix(_splitmix(seed) ^ FACTORS.index(factor)) ^ index)
    return SPLITS.index(split) * SEED_SPAN + h % SEED_SPAN


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
