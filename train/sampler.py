"""What a trainer draws at step ``s``: the batch indices (``StepSampler``) and the noise
generator (``step_generator``) are functions of ``(seed, s)`` alone, so a resumed run continues
bit-for-bit on the CPU (a test checks it); the learning-rate schedule (``lr_at``)."""

from __future__ import annotations

import torch


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator of one step: the same numbers whether or not the run was resumed."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + step) * 8191 + rank) % (2**63))


class StepSampler(torch.utils.data.Sampler):
    """Yields the index batches of steps ``start, start+1, ...`` for one rank.

    Finite datasets are walked in a fresh permutation per epoch seeded by ``(seed, epoch)``;
    unbounded ones (``len >= 2**31``, the renderer) in order. Position ``p`` of the global
    stream is ``step * batch * world + rank * batch + k``.
    """

    def __init__(self, size: int, batch: int, seed: int, start: int, steps: int, rank: int = 0, world: int = 1):
        self.size, self.batch, self.seed = size, batch, seed
        self.start, self.steps, self.rank, self.world = start, steps, rank, world
        self._perm: tuple[int, torch.Tensor] | None = None

    def _index(self, p: int) -> int:
        if self.size >= 2**31:
            return p
        epoch, i = divmod(p, self.size)
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._perm = (epoch, torch.randperm(self.size, generator=g))
        return int(self._perm[1][i])

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            base = step * self.batch * self.world + self.rank * self.batch
            yield [self._index(base + k) for k in range(self.batch)]


def loader(dataset, sampler: StepSampler, workers: int, device: torch.device):
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def lr_at(base: float, step: int, halve_every: int) -> float:
    """The reference's schedule: the learning rate halves every ``halve_every`` steps."""
    return base * 0.5 ** (step // halve_every) if halve_every > 0 else base


def set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
