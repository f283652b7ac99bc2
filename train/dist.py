"""torchrun and devices: ``Dist`` keeps the rank bookkeeping (a single process when not
launched by ``torchrun``), wraps a module for DDP and averages gradients."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

_GROUP = {"ours": False}  # whether Dist opened the process group (close_ours closes only that one)


class Dist:
    """Rank bookkeeping; a single process when not launched by ``torchrun``."""

    def __init__(self, device_arg: str | None):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        from dpg.device import resolve_device

        device = resolve_device(device_arg)
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        self.device = device
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            _GROUP["ours"] = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module):
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def average_grads(self, module) -> None:
        """All-reduce (mean) the gradients of a module that is not DDP-wrapped."""
        if self.world == 1:
            return
        for p in module.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
        _GROUP["ours"] = False


def close_ours() -> None:
    """Close the process group if ``Dist`` opened it (a rank that stops on bad input)."""
    if _GROUP["ours"] and dist.is_initialized():
        dist.destroy_process_group()
        _GROUP["ours"] = False
