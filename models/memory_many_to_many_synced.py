"""Memory of the camera-motion labeller: its convolutional GRU traced frame by frame, with each frame's influence
on each frame's label.

The ConvGRU's state is a map (channels × positions); the trace keeps each channel's mean over the map as that
channel's "unit", which is what the page draws (16 per direction instead of 1,024 numbers)."""

from __future__ import annotations

import torch

from models.many_to_many_synced import CameraMotionLabeller, ConvGRU
from models.memory import LayerTrace, MemoryTrace, gradient_times_input, tracing


def has_memory(model: CameraMotionLabeller) -> bool:
    return len(model.directions) > 0


def step_convgru(gru: ConvGRU, maps: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """ConvGRU.forward's recurrence on maps (B, T, M, s, s), with its gates kept: states (B, T, H, s, s) and
    update/reset (B, T, H, s, s)."""
    batch, steps = maps.shape[:2]
    inputs = gru.from_input(maps.flatten(0, 1))  # (B*T, 3H, s, s)
    inputs = inputs.reshape(batch, steps, *inputs.shape[1:])  # (B, T, 3H, s, s)
    state = inputs.new_zeros(batch, gru.state_channels, *inputs.shape[3:])  # (B, H, s, s)
    states, updates, resets = [None] * steps, [None] * steps, [None] * steps
    for step in gru.steps(steps):
        state, update, reset = gru.cell(inputs[:, step], state)
        states[step], updates[step], resets[step] = state, update, reset
    stack = lambda values: torch.stack(values, 1)  # noqa: E731  T × (B, H, s, s) -> (B, T, H, s, s)
    return stack(states), {"update": stack(updates), "reset": stack(resets)}


def trace(model: CameraMotionLabeller, frames: torch.Tensor, influence: bool = False) -> MemoryTrace:
    """frames (B, T, S, S) uint8 or [0, 1] floats. ``outputs`` are the logits (B, T, C); ``influence`` (B, T, T)
    is each frame's gradient × input (on the encoder's map of it) on the logit of each frame's predicted label."""
    if not has_memory(model):
        raise ValueError("the per-frame network has no recurrence to trace")
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255
    with tracing(influence):
        maps = model.encoder(frames)  # (B, T, M, s, s); dropout is off in eval mode
        if influence:
            maps = maps.detach().requires_grad_()
        layers, outputs = [], []
        for gru in model.directions:
            states, gates = step_convgru(gru, maps)
            outputs.append(states)
            name = ("backward" if gru.reverse else "forward") if len(model.directions) > 1 else "ConvGRU"
            layers.append(
                LayerTrace(
                    name,
                    "convgru",
                    states.mean((3, 4)),
                    {gate: value.mean((3, 4)) for gate, value in gates.items()},
                    gru.reverse,
                )
            )
        logits = model.classifier(torch.cat(outputs, dim=2).flatten(2))  # (B, T, D*H*s*s) -> (B, T, C)
        effect = None
        if influence:
            effect = gradient_times_input(logits.gather(2, logits.argmax(2, keepdim=True)).squeeze(-1), maps).detach()
    lengths = torch.full((frames.size(0),), frames.size(1))
    return MemoryTrace(layers, logits.detach(), lengths, effect)
