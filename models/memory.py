"""Memory: what a recurrent network keeps, forgets and uses, traced step by step with the model's own weights.

The fast path of every model keeps its fused ``nn.RNN``/``nn.GRU``/``nn.LSTM`` calls, which hide the states and
gates in between. Tracing steps the same cell in Python with the same weights, in PyTorch's own formulation, so
the traced outputs equal the model's (tests/test_memory.py checks every shipped run) and every intermediate value
is there to draw: the hidden state at each step and, for gated cells, the gates that decided what it kept.

A batch may be right-padded: given ``lengths``, each row runs its own steps only (packed-sequence semantics: the
state stops at the row's end, a reverse direction starts at the row's last real step, padding positions read 0).
The per-topology adapters (models/memory_<topology>.py) join these pieces to each model's submodules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

# In a run's memory/ folder (store.MEMORY_DIR: beside a shipped bundle, and among a tracked run's artifacts), written
# by training.memory_span: the measured memory span curve and the unit index, both small JSON.
SPAN_FILE, UNITS_FILE = "span.json", "units.json"
# The gates drawn per cell (an LSTM's candidate "g" and a GRU's "n" are not gates: they are the new content, not a
# share of it).
GATES = {"lstm": ("forget", "input", "output"), "gru": ("update", "reset"), "convgru": ("update", "reset"), "rnn": ()}


@dataclass
class LayerTrace:
    """One direction of one recurrent layer over a batch: states (B, T, U) after each step, in input order, and
    its gates (B, T, U) by name ({} for a vanilla RNN). Padding positions hold 0."""

    name: str  # what the page calls it: "encoder, forward", "decoder"
    cell: str  # "rnn" | "gru" | "lstm" | "convgru"
    states: torch.Tensor
    gates: dict[str, torch.Tensor] = field(default_factory=dict)
    reverse: bool = False  # reads its steps last to first

    def __post_init__(self):  # a trace is read, never differentiated: no autograd graph is kept alive by it
        self.states = self.states.detach()
        self.gates = {name: value.detach() for name, value in self.gates.items()}


@dataclass
class MemoryTrace:
    """A model's recurrent layers traced on a batch, the outputs it computed from them (equal to forward's), and,
    when asked for, the influence (B, O, T) of each input step on each output (gradient × input)."""

    layers: list[LayerTrace]
    outputs: torch.Tensor
    lengths: torch.Tensor  # (B,) real steps per row
    influence: torch.Tensor | None = None


def cell_kind(module: nn.Module) -> str:
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return "lstm"
    if isinstance(module, (nn.GRU, nn.GRUCell)):
        return "gru"
    if isinstance(module, (nn.RNN, nn.RNNCell)):
        return "rnn"
    raise TypeError(f"not a recurrent PyTorch module: {type(module).__name__}")


def cell_weights(module: nn.Module, layer: int = 0, reverse: bool = False) -> tuple:
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction; biases None when the module has none."""
    if getattr(module, "proj_size", 0):
        raise NotImplementedError("LSTMs with projections are not traced")
    suffix = "" if isinstance(module, nn.RNNCellBase) else f"_l{layer}" + ("_reverse" if reverse else "")
    return tuple(getattr(module, f"{name}{suffix}", None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def linear(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.nn.functional.linear(inputs, weight, bias)


def cell_step(
    kind: str,
    weights: tuple,
    x_part: torch.Tensor,
    hidden: torch.Tensor,
    cell: torch.Tensor | None,
    nonlinearity: str = "tanh",
):
    """One step of PyTorch's cell from the input's share of the pre-activations ``x_part`` (W_ih x + b_ih, (B, kH)):
    the new hidden state, the new cell state (LSTM, else None) and the gates by name."""
    _, weight_hh, _, bias_hh = weights
    h_part = linear(hidden, weight_hh, bias_hh)  # (B, kH)
    if kind == "lstm":
        i, f, g, o = (x_part + h_part).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        cell = f * cell + i * g
        return o * torch.tanh(cell), cell, {"forget": f, "input": i, "output": o}
    if kind == "gru":
        x_r, x_z, x_n = x_part.chunk(3, dim=-1)
        h_r, h_z, h_n = h_part.chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * hidden, None, {"update": z, "reset": r}
    pre = x_part + h_part
    return (torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)), None, {}


def step_direction(
    module: nn.Module,
    inputs: torch.Tensor,
    lengths: torch.Tensor | None = None,
    initial: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    layer: int = 0,
    reverse: bool = False,
):
    """Run one layer and direction of ``module`` (a recurrent module or cell) over batch-first ``inputs``
    (B, T, I), step by step, last step first when ``reverse``.

    Returns outputs (B, T, H), gates by name (B, T, H), cell states (B, T, H) or None, and the final (hidden, cell)
    (B, H). ``initial`` is (hidden, cell) (B, H), zeros when None. With ``lengths`` (B,) each row runs its own
    steps only; without, every row runs all T (as the fused module does on an unpacked batch)."""
    kind = cell_kind(module)
    # A bidirectional module keeps its reverse direction's own weights; a one-way module read backwards (the
    # models' backward encoders, fed each row reversed within its length) has only the forward ones.
    weights = cell_weights(module, layer, reverse and getattr(module, "bidirectional", False))
    batch, steps = inputs.shape[:2]
    hidden_size = weights[1].shape[1]
    hidden = inputs.new_zeros(batch, hidden_size) if initial is None else initial[0]
    cell = None
    if kind == "lstm":
        cell = inputs.new_zeros(batch, hidden_size) if initial is None or initial[1] is None else initial[1]
    x_parts = linear(inputs, weights[0], weights[2])  # (B, T, kH): the input's share of every step at once
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    outputs, gates, cells = [None] * steps, [None] * steps, [None] * steps
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    for t in order:
        new_hidden, new_cell, step_gates = cell_step(kind, weights, x_parts[:, t], hidden, cell, nonlinearity)
        if lengths is None:
            hidden, cell = new_hidden, new_cell
            outputs[t], gates[t] = hidden, step_gates
        else:
            real = (t < lengths)[:, None]  # (B, 1): rows for which step t exists
            hidden = torch.where(real, new_hidden, hidden)
            cell = None if cell is None else torch.where(real, new_cell, cell)
            outputs[t] = torch.where(real, new_hidden, 0.0)
            step_gates = {name: torch.where(real, value, 0.0) for name, value in step_gates.items()}
            gates[t] = step_gates
        cells[t] = cell
    stacked_gates = {name: torch.stack([g[name] for g in gates], 1) for name in gates[0]} if steps else {}
    return (torch.stack(outputs, 1), stacked_gates, torch.stack(cells, 1) if kind == "lstm" else None, (hidden, cell))


def trace_module(
    module: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor | None = None, initial=None, name: str = ""
) -> tuple[torch.Tensor, object, list[LayerTrace]]:
    """A whole ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (any layers, uni- or bidirectional) traced on ``inputs`` in the
    module's own layout: (output, final state) as the module returns them (for a padded batch, as it returns them
    on a packed one, with output zero at padding) and a LayerTrace per layer and direction.
    ``initial`` is the module's (h_0[, c_0]) of shape (layers*directions, B, H), zeros when None."""
    kind = cell_kind(module)
    if not module.batch_first:
        inputs = inputs.transpose(0, 1)
    directions = 2 if module.bidirectional else 1
    if initial is not None and kind != "lstm":
        initial = (initial, None)
    states, traces, finals = inputs, [], []
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            start = None if initial is None else (initial[0][index], None if initial[1] is None else initial[1][index])
            out, gates, _, final = step_direction(module, states, lengths, start, layer, reverse=bool(direction))
            outputs.append(out)
            finals.append(final)
            parts = [name] if name else []
            parts += [f"layer {layer + 1}"] if module.num_layers > 1 else []
            parts += [("backward" if direction else "forward")] if directions > 1 else []
            traces.append(LayerTrace(", ".join(parts) or kind, kind, out, gates, reverse=bool(direction)))
        states = torch.cat(outputs, -1)  # (B, T, D*H); inter-layer dropout is off in eval mode
    hidden = torch.stack([h for h, _ in finals])  # (layers*D, B, H)
    final = (hidden, torch.stack([c for _, c in finals])) if kind == "lstm" else hidden
    return (states if module.batch_first else states.transpose(0, 1)), final, traces


def tracing(influence: bool):
    """The autograd mode of a trace: a graph only when influence (which needs gradients) is asked for."""
    return torch.enable_grad() if influence else torch.no_grad()


def gradient_times_input(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """How much each input step moved each output, to first order: ``scores`` (B, O), computed from ``inputs``
    (B, T, …) with the rows independent of each other (a model in eval mode), gives (B, O, T), the gradient of
    score o times the input, summed over each step's features. One backward pass per output."""
    rows = []
    for output in range(scores.size(1)):
        (gradient,) = torch.autograd.grad(scores[:, output].sum(), inputs, retain_graph=output + 1 < scores.size(1))
        rows.append((gradient * inputs).flatten(2).sum(-1))  # (B, T, …) -> (B, T)
    return torch.stack(rows, 1)


# -- reading a trace ----------------------------------------------------------------------------------------------


def remembering(cell: str, gates: dict[str, np.ndarray]) -> np.ndarray | None:
    """(T, U) True where a unit mostly keeps what it had: a GRU whose update gate is above 0.5 (more than half of
    the new state is the old one); an LSTM whose forget gate is above 0.5 while its input gate is below (it keeps
    more than half of its cell and writes less than half of the candidate). None for a vanilla RNN: without gates
    it rewrites its whole state from the input and the old state at every step."""
    if cell == "lstm":
        return (gates["forget"] > 0.5) & (gates["input"] < 0.5)
    if cell in ("gru", "convgru"):
        return gates["update"] > 0.5
    return None


def order_units(states: np.ndarray, method: str = "peak") -> np.ndarray:
    """A display order of the units of states (T, U), deterministic for given states: "peak" sorts units by the
    step where their magnitude peaks (ties by unit number), so units that fire early come first and a diagonal
    shows units that track position; "cluster" puts units with similar time courses side by side (average-linkage
    clustering on correlation, leaves in tree order)."""
    steps, units = states.shape
    if method == "peak":
        peaks = np.abs(states).argmax(0) if steps else np.zeros(units, int)
        return np.lexsort((np.arange(units), peaks))
    if method == "cluster":
        if units < 3 or steps < 2:
            return np.arange(units)
        from scipy.cluster.hierarchy import leaves_list, linkage

        centred = states - states.mean(0)
        flat = centred.std(0) < 1e-9  # a constant unit has no correlation with anything: last, in unit order
        if (~flat).sum() < 3:
            return np.r_[np.flatnonzero(~flat), np.flatnonzero(flat)]
        moving = np.flatnonzero(~flat)
        tree = linkage(centred[:, moving].T, method="average", metric="correlation")
        return np.r_[moving[leaves_list(tree)], np.flatnonzero(flat)]
    raise ValueError(f"method must be 'peak' or 'cluster', not {method!r}")


# -- the unit index: where each unit fires most on a test set -----------------------------------------------------
UNIT_TOP = 3  # inputs kept per unit
UNIT_WINDOW = 9  # steps kept around each firing
LABEL_CHARS = 24  # characters kept of each step's label, and 64 of an input's name
UNITS_BYTES = 200_000  # the most a run's unit index may take in git: wide layers keep fewer inputs and steps


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UnitIndex:
    """Per unit of one layer, the inputs where it fires most (highest value at any step), with the steps around
    the firing: fed one input at a time, it keeps UNIT_TOP per unit, so its size is bounded by units × UNIT_TOP ×
    UNIT_WINDOW whatever the test set's size."""

    def __init__(self, units: int, top: int = UNIT_TOP, window: int = UNIT_WINDOW):
        self.units, self.top, self.window = units, top, window
        self.best: list[list[tuple[float, int, dict]]] = [[] for _ in range(units)]
        self.seen = 0

    def add(self, name: str, step_labels: list[str], states: np.ndarray) -> None:
        """One input: its name, its steps' labels and the layer's states (T, U) on it."""
        if states.shape != (len(step_labels), self.units):
            raise ValueError(f"states {states.shape} do not match {len(step_labels)} steps × {self.units} units")
        self.seen += 1
        if not len(step_labels):
            return
        peaks, values = states.argmax(0), states.max(0)
        half = self.window // 2
        for unit in range(self.units):
            kept = self.best[unit]
            value = float(values[unit])
            if len(kept) == self.top and value <= kept[-1][0]:
                continue
            peak = int(peaks[unit])
            first = max(0, min(peak - half, len(step_labels) - self.window))
            steps = range(first, min(first + self.window, len(step_labels)))
            entry = {
                "input": clip(name, 64),
                "peak": peak - first,
                "first_step": first,
                "steps": [clip(step_labels[t], LABEL_CHARS) for t in steps],
                "values": [round(float(states[t, unit]), 2) for t in steps],
            }
            kept.append((value, self.seen, entry))
            kept.sort(key=lambda item: (-item[0], item[1]))  # highest first; the earlier input wins a tie
            del kept[self.top :]

    def to_json(self) -> dict:
        return {
            "inputs_seen": self.seen,
            "top": self.top,
            "window": self.window,
            "units": [[entry for _, _, entry in kept] for kept in self.best],
        }


# From the most to the least kept: (inputs per unit, steps around each firing).
FITS = ((3, 9), (3, 7), (2, 7), (2, 5), (1, 7), (1, 5), (1, 3))


def fit_units(record: dict, budget: int = UNITS_BYTES) -> dict:
    """A units record ({"layers": {name: UnitIndex.to_json()}, …}) trimmed to ``budget`` bytes of compact JSON:
    the first of FITS that fits, each entry keeping its highest inputs and the steps centred on its peak. Wide
    models (a translator's 768 units) keep less per unit than narrow ones; every unit keeps its top input."""
    for top, window in FITS:
        layers = {
            name: {
                **index,
                "top": min(top, index["top"]),
                "window": min(window, index["window"]),
                "units": [[narrowed(entry, window) for entry in entries[:top]] for entries in index["units"]],
            }
            for name, index in record["layers"].items()
        }
        fitted = {**record, "layers": layers}
        if len(json.dumps(fitted, separators=(",", ":"), ensure_ascii=False).encode()) <= budget:
            return fitted
    raise ValueError(f"the unit index does not fit in {budget} bytes even at one input and {FITS[-1][1]} steps")


def narrowed(entry: dict, window: int) -> dict:
    """An index entry cut to ``window`` steps, its peak as central as the steps allow."""
    steps = len(entry["steps"])
    if steps <= window:
        return entry
    start = max(0, min(entry["peak"] - window // 2, steps - window))
    return {
        **entry,
        "peak": entry["peak"] - start,
        "first_step": entry["first_step"] + start,
        "steps": entry["steps"][start : start + window],
        "values": entry["values"][start : start + window],
    }
