"""Seeded random draws for the procedural renderer (``dpg.data.synthetic``).

Each factor (appearance, background, pose) is a pure function of its own integer seed. The
samplers make a few dozen scalar choices each; calling ``numpy.random.Generator`` once per
choice costs a microsecond or more apiece, so ``Draws`` takes one block of uniforms from a
PCG64 generator seeded with ``(tag, seed)`` and hands them out one at a time. The tag keeps
the three factors' streams apart even when their seeds are equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Factor tags mixed into the seed sequence (arbitrary distinct constants).
APPEARANCE, BACKGROUND, POSE = 0xA99E, 0xBAC6, 0x9053

_BLOCK = 128


class Draws:
    """Uniform numbers from ``numpy.random.default_rng([tag, seed])``, served one by one."""

    __slots__ = ("_rng", "_u", "_i")

    def __init__(self, tag: int, seed: int):
        if seed < 0:
            raise ValueError(f"seeds are non-negative integers, got {seed}")
        self._rng = np.random.default_rng([tag, int(seed)])
        self._u = self._rng.random(_BLOCK).tolist()
        self._i = 0

    def random(self) -> float:
        """One uniform number in [0, 1)."""
        if self._i == len(self._u):  # rare: a sampler that needed more than one block
            self._u = self._rng.random(_BLOCK).tolist()
            self._i = 0
        u = self._u[self._i]
        self._i += 1
        return u

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

    def generator(self) -> np.random.Generator:
        """The underlying generator, for the few array-valued draws (noise, texture offsets)."""
        return self._rng
