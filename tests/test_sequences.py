"""The sequence helpers the recurrent models and their training share (models.sequences)."""

from __future__ import annotations

import numpy as np
import torch

from models.sequences import gather_slices, pad_sequences, pad_slices, reorder_steps, reverse_within_length


def test_padding_keeps_every_id_and_gives_empty_batches_a_shape():
    padded = pad_sequences([[1, 2, 3], [], [4]], pad_id=9)
    assert padded.dtype == torch.int64 and padded.tolist() == [[1, 2, 3], [9, 9, 9], [4, 9, 9]]
    assert pad_sequences([]).shape == (0, 1) and pad_sequences([[], []]).tolist() == [[0], [0]]


def test_rows_kept_in_one_array_are_read_and_padded_as_lists_are():
    flat = np.array([7, 8, 9, 1, 2, 3, 4])
    starts, lengths = np.array([3, 0, 6, 2]), np.array([3, 0, 1, 2])  # [1, 2, 3], [], [4], [9, 1]
    assert gather_slices(flat, starts, lengths).tolist() == [1, 2, 3, 4, 9, 1]
    padded = pad_slices(flat, starts, lengths, pad_id=5)
    assert torch.equal(padded, pad_sequences([[1, 2, 3], [], [4], [9, 1]], pad_id=5))
    assert pad_slices(flat, starts[:0], lengths[:0]).shape == (0, 1)


def test_reversal_within_length_leaves_padding_in_place_and_undoes_itself():
    sequence = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)  # (B, T, F)
    index = reverse_within_length(torch.tensor([3, 4]), width=4)
    reversed_ = reorder_steps(sequence, index)
    assert torch.equal(reversed_[0, :3], sequence[0, :3].flip(0)) and torch.equal(reversed_[0, 3], sequence[0, 3])
    assert torch.equal(reversed_[1], sequence[1].flip(0))
    assert torch.equal(reorder_steps(reversed_, index), sequence)
