"""Memory of the translator: both encoder directions and the decoder traced while it writes a given translation
(teacher forcing), with each English subword's influence on each Spanish one."""

from __future__ import annotations

import torch

from models.many_to_many import PAD, Seq2Seq
from models.memory import LayerTrace, MemoryTrace, cell_kind, gradient_times_input, step_direction, tracing


def trace(model: Seq2Seq, source: torch.Tensor, target: torch.Tensor, influence: bool = False) -> MemoryTrace:
    """``source`` (B, S) English ids ending in [EOS], right-padded; ``target`` (B, T + 1) [BOS] Spanish ids [EOS],
    right-padded. ``outputs`` are the logits (B, T, V) for each next token (forward's, at every real position);
    ``lengths`` count source tokens; ``influence`` (B, T, S) is each source subword's gradient × input on the
    log-probability of each target token."""
    encoder = model.encoder
    lengths = (source != PAD).sum(1).clamp(min=1)
    inputs, targets = target[:, :-1], target[:, 1:]
    target_lengths = (targets != PAD).sum(1)
    with tracing(influence):
        embedded = encoder.embed(source)  # (B, S, E); dropout is off in eval mode
        if influence:
            embedded = embedded.detach().requires_grad_()
        forward_states, forward_gates, _, (forward_last, _) = step_direction(encoder.forward_rnn, embedded, lengths)
        backward_states, backward_gates, _, (backward_last, _) = step_direction(
            encoder.backward_rnn, embedded, lengths, reverse=True
        )
        states = torch.cat([forward_states, backward_states], -1)  # (B, S, 2H)
        memory = {"states": states, "mask": source != PAD}
        if model.uses_attention:
            memory["keys"] = model.attention_key(states)
        hidden = torch.tanh(model.bridge(torch.cat([forward_last, backward_last], -1)))  # (B, Hd)
        decoder_states, decoder_gates, _, _ = step_direction(
            model.decoder_rnn, model.target_embed(inputs), target_lengths, (hidden, torch.zeros_like(hidden))
        )
        logits, _ = model.project(decoder_states, memory)  # (B, T, V)
        effect = None
        if influence:
            chosen = logits.log_softmax(-1).gather(2, targets.clamp(min=0)[..., None]).squeeze(-1)  # (B, T)
            effect = gradient_times_input(chosen, embedded).detach()
    kind = cell_kind(model.decoder_rnn)
    layers = [
        LayerTrace("encoder, forward", kind, forward_states, forward_gates),
        LayerTrace("encoder, backward", kind, backward_states, backward_gates, reverse=True),
        LayerTrace("decoder", kind, decoder_states, decoder_gates),
    ]
    return MemoryTrace(layers, logits.detach(), lengths, effect)
