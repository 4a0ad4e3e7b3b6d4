"""Where a run trains: its device, and its place among the processes of a DistributedDataParallel run.

    torchrun --nproc-per-node 2 -m training.train one_to_one --set device=cpu    # two processes, gloo
    torchrun --nproc-per-node 4 -m training.train many_to_many                  # four GPUs, NCCL

torchrun tells each process its RANK, WORLD_SIZE and LOCAL_RANK (and where rank 0 listens) in the environment; a
plain ``python -m training.train`` is a world of one. Rank 0 alone talks to MLflow and saves checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: the GPU when there is one, else the CPU; ``cuda`` without a GPU is an error that says so. Each
    process of a multi-GPU run takes the GPU of its local rank."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device=cuda, but torch sees no GPU (a CPU-only torch wheel, or no driver)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_environment(cls) -> "World":
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )

    def start(self, device: torch.device) -> None:
        """Join the process group: NCCL between GPUs, gloo between CPU processes."""
        if self.distributed and not torch.distributed.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)  # NCCL's collectives run on the current GPU
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend, rank=self.rank, world_size=self.size)

    def stop(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def from_main(self, value):
        """Rank 0's ``value`` on every rank (what rank 0 alone computed, such as the validation scores)."""
        if not self.distributed:
            return value
        holder = [value]
        torch.distributed.broadcast_object_list(holder, src=0)
        return holder[0]

    def total(self, values: list[float], device: torch.device) -> list[float]:
        """The sums over all ranks of a few numbers (the examples and losses each rank saw); ``device`` is where
        the backend reduces (NCCL: the GPU)."""
        if not self.distributed:
            return list(values)
        summed = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(summed)
        return summed.tolist()


SINGLE = World()
