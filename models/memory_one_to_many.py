"""Memory of the captioner: its LSTM decoder traced while it writes a given caption (teacher forcing), with each
word it has read back in on each word it writes."""

from __future__ import annotations

import torch

from models.memory import LayerTrace, MemoryTrace, cell_step, cell_weights, gradient_times_input, linear, tracing
from models.one_to_many import Captioner


def trace(model: Captioner, images: torch.Tensor, captions: torch.Tensor, influence: bool = False) -> MemoryTrace:
    """images (B, 3, S, S) in [0, 1]; captions (B, T + 1) as <bos> words <eos> <pad>…. ``outputs`` are the logits
    (B, T, V) for each next token (forward's at every real position, 0 after a caption's end); ``lengths`` count
    the decoder's steps; ``influence`` (B, T, T) is each word read's gradient × input on the log-probability of
    each word written (zero above the diagonal: a word cannot depend on later ones)."""
    inputs, targets = captions[:, :-1], captions[:, 1:]
    lengths = (targets != model.pad).sum(1)
    with tracing(influence):
        state = model.start(images)
        embedded = model.embedding(inputs)  # (B, T, E)
        if influence:
            embedded = embedded.detach().requires_grad_()
        # Every step reads the image through the model's reader (attention on the state, or nothing for Show and
        # Tell, whose context is empty) before the cell runs: the cell is stepped here, as the model does.
        weights = cell_weights(model.lstm)
        hidden, cell, outputs, gates = state.hidden, state.cell, [], []
        for t in range(inputs.size(1)):
            context, _ = model.reader.read(state.memory, hidden)  # (B, C'), C' = 0 without attention
            x_part = linear(torch.cat([embedded[:, t], context], -1), weights[0], weights[2])
            new_hidden, new_cell, step_gates = cell_step("lstm", weights, x_part, hidden, cell)
            real = (t < lengths)[:, None]
            hidden, cell = torch.where(real, new_hidden, hidden), torch.where(real, new_cell, cell)
            outputs.append(torch.where(real, torch.cat([new_hidden, context], -1), 0.0))
            gates.append({name: torch.where(real, value, 0.0) for name, value in step_gates.items()})
        read_out = torch.stack(outputs, 1)  # (B, T, H + C')
        states = read_out[..., : model.config.hidden_size]
        gates = {name: torch.stack([g[name] for g in gates], 1) for name in gates[0]}
        real = (torch.arange(inputs.size(1))[None] < lengths[:, None])[..., None]  # (B, T, 1)
        logits = torch.where(real, model.output(read_out), 0.0)  # (B, T, V)
        effect = None
        if influence:
            chosen = logits.log_softmax(-1).gather(2, targets[..., None]).squeeze(-1)  # (B, T)
            effect = gradient_times_input(chosen, embedded).detach()
    return MemoryTrace([LayerTrace("decoder", "lstm", states, gates)], logits.detach(), lengths, effect)
