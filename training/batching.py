"""Batches as dicts of tensors, the one shape of data the trainer knows."""
from __future__ import annotations

import torch


class TensorBatches:
    """Mini-batches over aligned tensors, reshuffled from torch's global RNG on every pass (the trainer seeds it
    per epoch), with an optional per-batch transform such as augmentation."""

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool = False, transform=None):
        sizes = {len(t) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"tensors differ in length: {sizes}")
        self.tensors, self.batch_size, self.shuffle, self.transform = tensors, batch_size, shuffle, transform
        self.size = sizes.pop()

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def __iter__(self):
        order = torch.randperm(self.size) if self.shuffle else torch.arange(self.size)
        for start in range(0, self.size, self.batch_size):
            index = order[start:start + self.batch_size]
            batch = {name: tensor[index] for name, tensor in self.tensors.items()}
            yield self.transform(batch) if self.transform else batch
