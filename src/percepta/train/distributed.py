"""Data-parallel training under ``torchrun`` (DistributedDataParallel): gloo on CPU, nccl on GPU."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    """Process group context from torchrun's environment (a single process when absent)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where this rank trains

    @classmethod
    def from_env(cls, device: str) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        on_gpu = device == "cuda"
        ctx = cls(
            int(os.environ.get("RANK", "0")),
            world,
            local_rank,
            torch.device(f"cuda:{local_rank}" if on_gpu else device),
        )
        if world > 1 and on_gpu:
            torch.cuda.set_device(ctx.device)  # nccl uses the current device
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        return ctx

    @property
    def main(self) -> bool:
        """Rank 0, the one process that writes files."""
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's share of a global batch."""
        per_rank = batch_size // self.world
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        return torch.nn.parallel.DistributedDataParallel(net) if self.world > 1 else net

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean of each value over the ranks."""
        if self.world == 1:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)  # nccl: GPU tensors only
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world).tolist()))

    def main_decides(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. a wall-clock decision that must not differ between ranks)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, 0)
        return bool(t.item())
