"""Memory of the row-LSTM, the one recurrent network of the one-to-one page: it reads an image one row of pixels
per step."""

from __future__ import annotations

import torch

from models.memory import MemoryTrace, gradient_times_input, trace_module, tracing
from models.one_to_one import ImageClassifier, RowLSTM


def has_memory(model: ImageClassifier) -> bool:
    return isinstance(model.body, RowLSTM)


def trace(model: ImageClassifier, images: torch.Tensor, influence: bool = False) -> MemoryTrace:
    """images (B, 1, S, S) in [0, 1]. ``outputs`` are the logits (B, C); ``influence`` (B, 1, S) is each row's
    gradient × input on the logit of the predicted class."""
    body = model.body
    if not isinstance(body, RowLSTM):
        raise ValueError(f"{model.config.arch} has no recurrence to trace")
    with tracing(influence):
        rows = ((images - model.PIXEL_MEAN) / model.PIXEL_STD).squeeze(1)  # (B, 1, S, S) -> (B, T=S, S)
        if influence:
            rows = rows.detach().requires_grad_()
        _, (hidden, _), layers = trace_module(body.rnn, rows)
        directions = 2 if body.config.bidirectional else 1
        features = hidden[-directions:].transpose(0, 1).reshape(rows.size(0), -1)  # (D, B, H) -> (B, D*H)
        logits = body.head(features)
        effect = None
        if influence:
            effect = gradient_times_input(logits.gather(1, logits.argmax(1, keepdim=True)), rows).detach()
    lengths = torch.full((rows.size(0),), rows.size(1))
    return MemoryTrace(layers, logits.detach(), lengths, effect)
