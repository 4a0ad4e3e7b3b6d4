"""Batches as dicts of tensors, the one shape of data the trainer knows."""

from __future__ import annotations

import torch

from models.sequences import pad_sequences


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
            index = order[start : start + self.batch_size]
            batch = {name: tensor[index] for name, tensor in self.tensors.items()}
            yield self.transform(batch) if self.transform else batch


class PaddedFieldBatches:
    """Mini-batches of several variable-length token sequence fields (source and target, say), each field
    right-padded to the longest in its batch.

    Batches are cut from pools of ``pool_batches`` batches sorted by the length of ``length_field``, so a batch
    holds sequences of similar length and little of its compute is spent on padding; the batch order is then
    shuffled (torch's global RNG, which the trainer seeds per epoch). Without shuffle, batches follow the input
    order."""

    def __init__(
        self,
        fields: dict[str, list[list[int]]],
        batch_size: int,
        shuffle: bool = False,
        length_field: str | None = None,
        pad_id: int = 0,
        pool_batches: int = 50,
        aligned: dict[str, torch.Tensor] | None = None,
    ):
        self.aligned = aligned or {}  # per-sample tensors (labels) batched alongside, unpadded
        sizes = {len(v) for v in fields.values()} | {len(t) for t in self.aligned.values()}
        if len(sizes) != 1:
            raise ValueError(f"fields differ in length: {sizes}")
        self.fields, self.batch_size, self.shuffle, self.pad_id = fields, batch_size, shuffle, pad_id
        self.length_field = length_field or next(iter(fields))
        self.pool = batch_size * pool_batches
        self.size = sizes.pop()

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def _batch_indices(self) -> list[torch.Tensor]:
        if not self.shuffle:
            return list(torch.arange(self.size).split(self.batch_size))
        order = torch.randperm(self.size)
        lengths = torch.tensor([len(s) for s in self.fields[self.length_field]])
        batches = []
        for pool in order.split(self.pool):
            pool = pool[lengths[pool].argsort(stable=True)]
            batches += list(pool.split(self.batch_size))
        return [batches[i] for i in torch.randperm(len(batches))]

    def __iter__(self):
        for index in self._batch_indices():
            yield {
                **{
                    name: pad_sequences([values[i] for i in index.tolist()], self.pad_id)
                    for name, values in self.fields.items()
                },
                **{name: tensor[index] for name, tensor in self.aligned.items()},
            }
