"""Helpers for ``torchrun`` / DistributedDataParallel (detected from ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``).

Backend: ``nccl`` on CUDA, ``gloo`` on CPU. Rank 0 writes every file; metrics are all-reduced
as sums (loss·count, correct, count), so a 2-process run reports exactly the numbers of the
whole split, not of one shard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistEnv", "distributed_env", "init_distributed", "all_reduce_sums", "barrier"]


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a (possibly trivial) process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_env() -> DistEnv:
    """Read ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` (set by ``torchrun``); defaults: one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if world > 1 and not 0 <= rank < world:
        raise RuntimeError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return DistEnv(rank=rank, world_size=world, local_rank=local)


def init_distributed(env: DistEnv, device: torch.device) -> bool:
    """Join the process group if ``env`` has several processes; returns whether this call created it."""
    if not env.enabled or not dist.is_available() or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=env.rank, world_size=env.world_size)
    return True


def all_reduce_sums(values: list[float], device: torch.device) -> list[float]:
    """Sum ``values`` over all processes (no-op without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier() -> None:
    """Synchronise all processes (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
