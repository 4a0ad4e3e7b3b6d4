"""Batches of variable-length sequences, shared by the recurrent models and their training: right padding (of id
lists, or of rows kept one after another in one array), each row reversed within its own length (the backward
direction of a recurrent layer that never reads padding), and runs of equal labels."""

from __future__ import annotations

from itertools import chain

import numpy as np
import torch


def pad_sequences(sequences: list[list[int]] | list[np.ndarray], pad_id: int = 0) -> torch.Tensor:
    """Id lists (or int64 arrays) as one (N, longest) int64 tensor, right-padded with ``pad_id``; at least one
    column, so a batch of empty lists still has a shape."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    ids = np.full((len(sequences), max(int(lengths.max(initial=0)), 1)), pad_id, dtype=np.int64)
    real = np.arange(ids.shape[1])[None, :] < lengths[:, None]  # (N, T)
    if sequences and isinstance(sequences[0], np.ndarray):
        ids[real] = np.concatenate(sequences)  # one copy in C; a generator over array items is many times slower
    else:
        ids[real] = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(ids)


def gather_slices(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The slices ``flat[start : start + length]`` one after another, in one gather: a list of rows kept as one array
    (where each begins, how long it is) is read without a Python step per row."""
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths  # (N,) where each slice begins in the result
    return flat[np.repeat(starts - before, lengths) + np.arange(total)]


def pad_slices(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, pad_id: int = 0) -> torch.Tensor:
    """pad_sequences of the rows ``flat[start : start + length]``: one (N, longest) int64 tensor, right-padded with
    ``pad_id``, at least one column."""
    ids = np.full((len(lengths), max(int(lengths.max(initial=0)), 1)), pad_id, dtype=np.int64)
    ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]] = gather_slices(flat, starts, lengths)  # (N, T)
    return torch.from_numpy(ids)


def reverse_within_length(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Row index (B*T,) into a (B*T, …) view that reverses each row's first ``length`` steps and leaves its padding
    in place; applying it twice gives the identity. A flat index_select is several times faster than gather."""
    steps = torch.arange(width, device=lengths.device)[None, :]  # (1, T)
    flipped = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
    row_starts = torch.arange(len(lengths), device=lengths.device)[:, None] * width  # (B, 1)
    return (flipped + row_starts).reshape(-1)  # (B, T) -> (B*T,)


def reorder_steps(sequence: torch.Tensor, flat_index: torch.Tensor) -> torch.Tensor:
    """(B, T, F) with its steps permuted within each row by a reverse_within_length index."""
    batch, width, features = sequence.shape
    return sequence.reshape(batch * width, features).index_select(0, flat_index).reshape(batch, width, features)


def segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of equal labels as (label, start, end) with end exclusive: [0, 0, 2] -> [(0, 0, 2), (2, 2, 3)]."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    return [(int(labels[s]), int(s), int(e)) for s, e in zip(starts, ends)]
