"""Memory of the sentiment classifier: its encoder traced on a batch of token ids, with each token's influence on
the verdict."""

from __future__ import annotations

import torch

from models.many_to_one import PAD_ID, SentimentClassifier
from models.memory import LayerTrace, MemoryTrace, cell_kind, gradient_times_input, step_direction, tracing


def trace(
    model: SentimentClassifier,
    token_ids: torch.Tensor,
    influence: bool = False,
    ngram_ids: torch.Tensor | None = None,
) -> MemoryTrace:
    """``token_ids`` (B, T) right-padded with PAD_ID, as the model reads them, and for a model with an n-gram path
    its ``ngram_ids`` (B, N) (TweetClassifier.ngram_ids). ``outputs`` are the logits (B, C); ``influence``
    (B, 1, T) is each token's gradient × input on the logit of the predicted label, through the recurrence (the
    n-gram path reads no token embedding)."""
    config = model.config
    mask = token_ids != PAD_ID
    lengths = mask.sum(1)
    with tracing(influence):
        embedded = model.embedding(token_ids)  # (B, T, E); dropout is off in eval mode
        if influence:
            embedded = embedded.detach().requires_grad_()
        states, layers = embedded, []
        for index, directions in enumerate(model.encoder.layers):
            outputs = []
            for direction, rnn in enumerate(directions):
                out, gates, _, _ = step_direction(rnn, states, lengths, reverse=bool(direction))
                outputs.append(out)
                parts = ([f"layer {index + 1}"] if config.layers > 1 else []) + (
                    [("backward" if direction else "forward")] if config.bidirectional else []
                )
                layers.append(LayerTrace(", ".join(parts) or "encoder", cell_kind(rnn), out, gates, bool(direction)))
            states = torch.cat(outputs, -1)  # (B, T, D*H)
        if model.attention is not None:
            summary, _ = model.attention(states, mask)
        else:
            hidden = config.hidden
            last = (lengths - 1)[:, None, None].expand(-1, 1, hidden)  # (B, 1, H)
            summary = states[..., :hidden].gather(1, last).squeeze(1)  # the forward direction's last state
            if config.bidirectional:
                summary = torch.cat([summary, states[:, 0, hidden:]], -1)  # the backward one ends at token 0
        logits = model.classify(summary, ngram_ids)  # (B, C)
        effect = None
        if influence:
            chosen = logits.gather(1, logits.argmax(1, keepdim=True))  # (B, 1)
            effect = gradient_times_input(chosen, embedded).detach()
    return MemoryTrace(layers, logits.detach(), lengths, effect)
