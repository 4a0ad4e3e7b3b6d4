"""The Memory tab of every page whose model has a recurrence: on the page's current input, the hidden state over
time, the gates, what the output depends on and what a chosen unit responds to on the test set; below, how far
back each shipped run remembers (curves measured by ``python -m training.memory_span``).

Traces are computed only while the tab is open (the page frame's tabs track which one is), once per input and
model (kept for the session), and at most MAX_STEPS steps are drawn."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from dashboard.components.session import kept_for_session
from dashboard.components.user_text import code, pick_text
from models import memory, store

MAX_STEPS = 64  # steps traced and drawn; the rest of a longer input is left out, and the tab says so
# Fewer frames for the video: each frame's influence is a backward pass through every frame, so its cost grows with
# the square of the frames (64 took 10 s on a loaded 2-core machine, 32 take 2.3 s).
VIDEO_STEPS = 32
ORDERS = {"peak time": "peak", "similar time course": "cluster"}
HINT = "The Memory tab shows what the model keeps on the Demo tab's input: give it one there first."


@dataclass
class MemoryTab:
    """Where a page draws its Memory views, and whether the tab is open (the views are skipped when not)."""

    slot: st.delta_generator.DeltaGenerator
    open: bool


@dataclass
class ShownLayer:
    """One recurrent layer on one input, ready to draw: states (T, U), gates (T, U) by name, a label per step."""

    name: str
    cell: str
    states: np.ndarray
    gates: dict[str, np.ndarray]
    labels: list[str]


@dataclass
class Influence:
    """How much each input step moved each output (O, T), by gradient × input."""

    values: np.ndarray
    outputs: list[str]
    inputs: list[str]
    what: str  # the sentence under the chart: which score, of what


def memory_tab(tab, topology: str) -> MemoryTab:
    """Fill the page frame's Memory tab: a hint until the page draws its input's views there, then the measured
    memory span of every shipped run (drawn when the tab is open)."""
    with tab:
        slot = st.empty()
        slot.info(HINT, icon=":material/memory:")
        if tab.open:
            span_comparison(topology)
    return MemoryTab(slot, tab.open)


def layer_rows(trace: memory.MemoryTrace, labels: dict[str, list[str]], row: int = 0) -> list[ShownLayer]:
    """The traced layers of one batch row, cut to its real steps; ``labels`` maps a layer name to its steps'
    labels (key "" for every layer without its own)."""
    shown = []
    for layer in trace.layers:
        steps = labels.get(layer.name, labels.get(""))
        count = len(steps)
        shown.append(
            ShownLayer(
                layer.name,
                layer.cell,
                layer.states[row, :count].numpy(),
                {name: value[row, :count].numpy() for name, value in layer.gates.items()},
                steps,
            )
        )
    return shown


def kept_trace(inputs: tuple, compute: Callable[[], object]):
    """``compute()`` once per inputs in this session: tab switches and widget changes on the Memory tab rerun the
    page, and must not trace again. One trace for all pages (one key), so a session holds one trace's memory; the
    inputs are kept as a digest, since they can hold a whole video."""
    return kept_for_session("memory-trace", hashlib.sha256(repr(inputs).encode()).hexdigest(), compute)


def escaped(labels: list[str]) -> list[str]:
    """Labels as plotly shows them: plotly reads a few HTML tags in text, and user text must stay text."""
    return [html.escape(label) for label in labels]


# -- drawing ---------------------------------------------------------------------------------------------------


def show(
    tab: MemoryTab, key: str, layers: list[ShownLayer], influence: Influence | None, units: dict | None, note: str = ""
) -> None:
    """Draw one input's memory views into the tab: state heatmap, gates, influence, pick a unit."""
    if not tab.open:
        return
    with tab.slot.container():
        if note:
            st.caption(note)
        names = [layer.name for layer in layers]
        name = st.selectbox("Layer", names, key=f"{key}-layer") if len(names) > 1 else names[0]
        layer = layers[names.index(name)]
        st.subheader("Hidden state over time")
        order_name = st.radio("Order units by", list(ORDERS), horizontal=True, key=f"{key}-order")
        order = memory.order_units(layer.states, ORDERS[order_name])
        st.plotly_chart(state_heatmap(layer, order), width="stretch", key=f"{key}-heatmap")
        st.caption(
            f"{layer.states.shape[1]} units × {len(layer.labels)} steps of {code(layer.name)} "
            f"({layer.cell.upper()}); each row is one unit's value after each step "
            + ("(a channel's mean over the 8×8 state map), " if layer.cell == "convgru" else "")
            + f"rows ordered by {order_name}. Hover for the value and the step's input."
        )
        gates_section(layer)
        if influence is not None:
            influence_section(influence)
        unit_section(layer, order, units.get(layer.name) if units else None, key)


def state_heatmap(layer: ShownLayer, order: np.ndarray) -> go.Figure:
    steps = [f"{t}: {label}" for t, label in enumerate(escaped(layer.labels))]
    values = layer.states[:, order].T  # (U, T) in display order
    extreme = float(np.abs(values).max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(range(len(steps))),
            y=[f"unit {u}" for u in order],
            colorscale="RdBu",
            reversescale=True,
            zmid=0,
            zmin=-extreme,
            zmax=extreme,
            customdata=np.tile(np.array(steps, dtype=object), (len(order), 1)),
            hovertemplate="%{y} · step %{customdata}<br>value %{z:.3f}<extra></extra>",
        )
    )
    tick_every = max(1, len(steps) // 32)
    figure.update_layout(
        height=min(700, 120 + 6 * len(order)),
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(
            title="step",
            tickvals=list(range(0, len(steps), tick_every)),
            ticktext=escaped(layer.labels)[::tick_every],
            tickangle=-45,
        ),
        yaxis=dict(showticklabels=len(order) <= 40, autorange="reversed"),
    )
    return figure


def gates_section(layer: ShownLayer) -> None:
    st.subheader("Gates")
    remembering = memory.remembering(layer.cell, layer.gates)
    if remembering is None:
        st.info(
            "A vanilla RNN has no gates: at every step it rewrites its whole state from the input and the old "
            "state, so it has no way to keep something unchanged. None of its steps is a “remembering” one.",
            icon=":material/block:",
        )
        return
    steps = escaped(layer.labels)
    figure = go.Figure()
    for name in memory.GATES[layer.cell]:
        figure.add_scatter(
            x=list(range(len(steps))),
            y=layer.gates[name].mean(1),
            name=f"{name} gate (mean)",
            customdata=steps,
            hovertemplate="%{customdata}<br>%{y:.2f}<extra>%{fullData.name}</extra>",
        )
    figure.add_scatter(
        x=list(range(len(steps))),
        y=remembering.mean(1),
        name="share of units mostly remembering",
        customdata=steps,
        line=dict(dash="dot", color="black"),
        hovertemplate="%{customdata}<br>%{y:.0%}<extra>mostly remembering</extra>",
    )
    figure.update_layout(
        height=300,
        margin=dict(t=10, b=10, l=10, r=10),
        yaxis=dict(range=[0, 1]),
        xaxis=dict(title="step"),
        legend=dict(orientation="h", y=-0.25),
    )
    st.plotly_chart(figure, width="stretch")
    rule = (
        "forget gate above 0.5 and input gate below 0.5: it keeps more than half of its cell and writes less "
        "than half of the new candidate"
        if layer.cell == "lstm"
        else "update gate above 0.5: more than half of its new state is its old one"
    )
    st.caption(
        f"**{remembering.mean():.0%}** of this input's unit-steps are mostly remembering ({rule}). The "
        "lines are each gate's mean over the units at every step."
    )


def influence_section(influence: Influence) -> None:
    st.subheader("What the output depends on")
    if len(influence.outputs) == 1:
        st.html(shaded_steps(influence.inputs, influence.values[0]))
    else:
        st.plotly_chart(influence_heatmap(influence), width="stretch")
    st.caption(
        influence.what + " Gradient × input: how much the score would move, to first order, if that input "
        "were taken away; orange pushed it up, blue down."
    )


def shaded_steps(labels: list[str], values: np.ndarray) -> str:
    """Steps as HTML, each shaded by its value (orange positive, blue negative); text escaped, never markup."""
    top = float(np.abs(values).max()) or 1.0
    spans = []
    for label, value in zip(labels, values):
        colour = "255, 140, 0" if value >= 0 else "31, 119, 180"
        spans.append(
            f'<span title="{value:+.3f}" style="background: rgba({colour}, {abs(value) / top:.2f}); '
            f'border-radius: 3px; padding: 0 2px; margin: 1px; display: inline-block; white-space: pre">'
            f"{html.escape(label)}</span>"
        )
    return f"<div style='line-height: 2'>{''.join(spans)}</div>"


def influence_heatmap(influence: Influence) -> go.Figure:
    columns = [f"{label} ·{i}" for i, label in enumerate(escaped(influence.inputs))]
    rows = [f"{label} ·{i}" for i, label in enumerate(escaped(influence.outputs))]
    extreme = float(np.abs(influence.values).max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=influence.values,
            x=columns,
            y=rows,
            colorscale=[[0, "#1f77b4"], [0.5, "#ffffff"], [1, "#ff8c00"]],
            zmid=0,
            zmin=-extreme,
            zmax=extreme,
            hovertemplate="%{y} ← %{x}<br>%{z:+.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(240, min(900, 18 * len(rows) + 110)),
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(title="input step", tickangle=-45),
        yaxis=dict(title="output", autorange="reversed"),
    )
    return figure


def unit_section(layer: ShownLayer, order: np.ndarray, index: dict | None, key: str) -> None:
    st.subheader("Pick a unit")
    unit = st.selectbox("Unit (in the heatmap's order)", [int(u) for u in order], key=f"{key}-unit")
    values = layer.states[:, unit]
    steps = escaped(layer.labels)
    figure = go.Figure(
        go.Bar(
            x=list(range(len(steps))),
            y=values,
            customdata=steps,
            marker_color=["#ff8c00" if v >= 0 else "#1f77b4" for v in values],
            hovertemplate="%{customdata}<br>%{y:.3f}<extra></extra>",
        )
    )
    figure.update_layout(height=220, margin=dict(t=10, b=10, l=10, r=10), xaxis=dict(title="step"))
    st.plotly_chart(figure, width="stretch", key=f"{key}-unit-chart")
    if index is None:
        st.caption(
            "No test-set index for this run (`python -m training.memory_span` builds one beside a shipped "
            "bundle), so only this input is shown."
        )
        return
    entries = index["units"][unit] if unit < len(index["units"]) else []
    if not entries:
        st.caption("This unit never fired on the indexed test inputs.")
        return
    rows = []
    for entry in entries:
        shaded = shaded_steps(entry["steps"], np.maximum(np.array(entry["values"], dtype=float), 0))
        rows.append(
            f"<p style='margin: 0.2em 0'><b>{html.escape(entry['input'])}</b> · steps from "
            f"{entry['first_step']}, peak {max(entry['values']):.2f}{shaded}</p>"
        )
    st.html("".join(rows))
    st.caption(
        f"Where unit {unit} fires most on the test set ({index['inputs_seen']:,} inputs indexed): the "
        f"{len(entries)} inputs with its highest value at any step, the steps around it shaded by its value."
    )


# -- across runs: the measured memory span ----------------------------------------------------------------------


def memory_folder(run: store.RunSummary) -> Path | None:
    """A run's memory/ folder: its own shipped bundle's; for a run imported from a bundle, that bundle's while it
    still holds the same weights; else the memory/ artifacts the run logged when its training ended."""
    if run.bundle_dir is not None:
        return run.bundle_dir / store.MEMORY_DIR
    key = run.tags.get(store.BUNDLE_TAG)
    if key:
        folder = store.SHIPPED_DIR / key.split("@")[0]
        if folder.is_dir() and shipped_key(str(folder)) == key:
            return folder / store.MEMORY_DIR
    return logged_memory(run.run_id) if run.run_id and run.status == "FINISHED" else None


@st.cache_data(show_spinner=False, ttl=60)  # a run being measured right now has its files a minute later
def logged_memory(run_id: str) -> Path | None:
    from mlflow.exceptions import MlflowException

    try:
        return store.download_memory(run_id)
    except (MlflowException, OSError):  # tracking unreachable: the page goes on without this run's memory view
        return None


@st.cache_data(show_spinner=False)
def shipped_key(folder: str) -> str:
    return store.bundle_key(Path(folder))


def read_json(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def unit_index(run: store.RunSummary) -> dict | None:
    """The run's unit index (layer name -> UnitIndex.to_json()), or None when it has none."""
    folder = memory_folder(run)
    built = read_json(folder / memory.UNITS_FILE if folder else None)
    return built["layers"] if built else None


def span_comparison(topology: str) -> None:
    from dashboard.components.runs import run_catalogue

    st.subheader("Memory span across runs")
    curves = {}
    runs = run_catalogue(topology).runs
    names = [run.run_name for run in runs]
    for run in runs:
        folder = memory_folder(run)
        span = read_json(folder / memory.SPAN_FILE if folder else None)
        if span:  # two runs of one name (the default name is the architecture) keep a curve each
            curves[run.run_name if names.count(run.run_name) == 1 else f"{run.run_name} ({run.run_id})"] = span
    if not curves:
        st.caption(
            f"No run has a measured memory span yet: `python -m training.memory_span {topology}` measures "
            "every shipped run."
        )
        return
    first = next(iter(curves.values()))
    figure = go.Figure()
    for name, span in curves.items():
        figure.add_scatter(
            x=span["x"],
            y=span["y"],
            name=html.escape(name),
            mode="lines+markers",
            hovertemplate=f"{html.escape(name)}<br>%{{x}}: %{{y:.3f}}<extra></extra>",
        )
    figure.update_layout(
        height=340,
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(title=first["x_label"]),
        yaxis=dict(title=first["y_label"]),
        legend=dict(orientation="h", y=-0.3),
    )
    st.plotly_chart(figure, width="stretch", key=f"{topology}-memory-span")
    st.caption(first["measure"])


# -- each page's input ------------------------------------------------------------------------------------------


def no_state(tab: MemoryTab, run: store.RunSummary, what_it_does: str, recurrent_run: str) -> None:
    """What the Memory tab says of a run without recurrence, and which run to pick instead."""
    tab.slot.info(
        f"{code(run.run_name)} {what_it_does}: it has no recurrence, so there is no state to show. "
        f"Pick {recurrent_run} to see one.",
        icon=":material/block:",
    )


def pick_one(tab: MemoryTab, label: str, texts: list[str], key: str, shown: int = 50):
    """A picker of one of the page's inputs (the first ``shown``) at the top of the tab; returns the area under it
    and the index picked."""
    area = tab.slot.container()  # the picker, then the views below it
    with area:
        return area, pick_text(label, texts[:shown], key)


def cut_note(steps: int, what: str, limit: int = MAX_STEPS) -> str:
    return f"The input has {steps} {what}: the first {limit} are traced and drawn." if steps > limit else ""


def row_lstm(tab: MemoryTab, checkpoint, run: store.RunSummary, pixels: np.ndarray) -> None:
    """One to one: the row-LSTM reading the image (S, S) in [0, 1] row by row; the plain networks have no state."""
    from models import memory_one_to_one

    if not tab.open:
        return
    if not memory_one_to_one.has_memory(checkpoint.model):
        no_state(tab, run, f"({checkpoint.config.arch}) is a plain network", "the row-LSTM run")
        return
    trace = kept_trace(
        (run.run_name, pixels.tobytes()),
        lambda: memory_one_to_one.trace(checkpoint.model, torch.from_numpy(pixels)[None, None], influence=True),
    )
    labels = [f"row {t}" for t in range(pixels.shape[0])]
    predicted = checkpoint.config.labels[int(trace.outputs[0].argmax())]
    influence = Influence(
        trace.influence[0].numpy(), [predicted], labels, f"Each image row's influence on the logit of “{predicted}”."
    )
    show(
        tab,
        "one_to_one-memory",
        layer_rows(trace, {"": labels}),
        influence,
        unit_index(run),
        "The row-LSTM reads the 28 rows of the image top to bottom (and, bidirectional, bottom to top), one row "
        "of 28 pixels per step.",
    )


def sentiment(tab: MemoryTab, checkpoint, run: store.RunSummary, classifier, tweets: list[str]) -> None:
    """Many to one: the encoder reading one of the page's tweets, token by token."""
    from models import memory_many_to_one
    from models.many_to_one import model_texts

    if not tab.open:
        return
    area, pick = pick_one(tab, "Tweet", tweets, "many_to_one-memory-tweet")
    text = model_texts([tweets[pick]], checkpoint.config)[0]
    [(ids, spans, _)] = classifier.tokenizer.encode_spans([text])
    note = cut_note(len(ids), "tokens")
    ids, spans = ids[:MAX_STEPS], spans[:MAX_STEPS]
    trace = kept_trace(
        (run.run_name, text, tuple(ids)),  # the text too: the n-gram path reads it, not only the token ids
        lambda: memory_many_to_one.trace(
            checkpoint.model, torch.tensor([ids]), influence=True, ngram_ids=classifier.ngram_ids([text])
        ),
    )
    labels = [text[start:end] for start, end in spans]
    verdict = checkpoint.config.labels[int(trace.outputs[0].argmax())]
    ngram_note = (
        "The influence is through the recurrence; the n-gram path's vote, the same wherever a word stands, is in "
        "the logit but not in the influence."
        if checkpoint.config.ngram_buckets
        else ""
    )
    influence = Influence(
        trace.influence[0].numpy(),
        [verdict],
        labels,
        f"Each token's influence on the logit of the verdict “{verdict}”.",
    )
    show(
        MemoryTab(area, True),
        "many_to_one-memory",
        layer_rows(trace, {"": labels}),
        influence,
        unit_index(run),
        " ".join(filter(None, ["The encoder reads the tweet as the tokenizer cut it.", ngram_note, note])),
    )


def translator(tab: MemoryTab, checkpoint, run: store.RunSummary, translator_pipeline, translations: list) -> None:
    """Many to many: the encoder reading one translated sentence and the decoder writing its translation."""
    from models import memory_many_to_many
    from models.many_to_many import BOS

    if not tab.open:
        return
    area, pick = pick_one(tab, "Sentence", [t.source for t in translations], "many_to_many-memory-sentence")
    translation = translations[pick]
    [source_ids] = translator_pipeline.encode_sources([translation.source])
    note = " ".join(
        filter(
            None,
            [
                cut_note(len(source_ids), "English subwords"),
                cut_note(len(translation.target_tokens), "Spanish subwords"),
            ],
        )
    )
    source_ids = source_ids[:MAX_STEPS]
    index = {token: i for i, token in enumerate(translator_pipeline.target_vocabulary)}
    target_tokens = translation.target_tokens[:MAX_STEPS]
    target = [BOS] + [index[token] for token in target_tokens]
    if len(target) < 2:
        area.info("The translation is empty: the decoder wrote nothing to trace.")
        return
    trace = kept_trace(
        (run.run_name, tuple(source_ids), tuple(target)),
        lambda: memory_many_to_many.trace(
            checkpoint.model, torch.tensor([source_ids]), torch.tensor([target]), influence=True
        ),
    )
    source_labels = [translator_pipeline.source_vocabulary[i] for i in source_ids]
    decoder_labels = ["[BOS]", *target_tokens[:-1]]  # the decoder reads the token before the one it writes
    labels = {"encoder, forward": source_labels, "encoder, backward": source_labels, "decoder": decoder_labels}
    influence = Influence(
        trace.influence[0].numpy(),
        target_tokens,
        source_labels,
        "Each English subword's influence on the log-probability of each Spanish subword written (rows).",
    )
    show(
        MemoryTab(area, True),
        "many_to_many-memory",
        layer_rows(trace, labels),
        influence,
        unit_index(run),
        " ".join(
            filter(
                None,
                [
                    "The float32 model traced while it writes the translation shown "
                    "(the page decodes with int8 weights, "
                    "which may differ in a word).",
                    note,
                ],
            )
        ),
    )


def captioner(tab: MemoryTab, checkpoint, run: store.RunSummary, image: np.ndarray, words: list[str]) -> None:
    """One to many: the decoder writing the page's caption of ``image`` (S, S, 3) uint8."""
    from models import memory_one_to_many
    from models.one_to_many import to_tensor

    if not tab.open:
        return
    model = checkpoint.model
    note = cut_note(len(words) + 1, "decoder steps")
    words = words[: MAX_STEPS - 1]
    caption = torch.tensor([model.encode_caption(words)])  # <bos> words <eos>
    trace = kept_trace(
        (run.run_name, image.tobytes(), tuple(words)),
        lambda: memory_one_to_many.trace(model, to_tensor(image[None]), caption, influence=True),
    )
    read = ["<bos>", *words]
    written = [*words, "<eos>"]
    influence = Influence(
        trace.influence[0].numpy(),
        written,
        read,
        "Each word the decoder read back in (columns) on the log-probability of each word it "
        "wrote (rows); nothing above the diagonal, as a word cannot depend on later ones.",
    )
    show(
        tab,
        "one_to_many-memory",
        layer_rows(trace, {"": read}),
        influence,
        unit_index(run),
        " ".join(
            filter(
                None,
                [
                    "The LSTM decoder traced while it writes the caption shown; each step reads the "
                    "word before (and, with attention, the image again).",
                    note,
                ],
            )
        ),
    )


def video_labeller(
    tab: MemoryTab, checkpoint, run: store.RunSummary, frames: np.ndarray, names: tuple[str, ...]
) -> None:
    """Many to many, synced: the ConvGRU over the first VIDEO_STEPS frames (T, S, S) uint8."""
    from models import memory_many_to_many_synced

    if not tab.open:
        return
    if not memory_many_to_many_synced.has_memory(checkpoint.model):
        no_state(tab, run, "labels every frame on its own", "the GRU or BiGRU run")
        return
    note = cut_note(len(frames), "frames", VIDEO_STEPS)
    frames = frames[:VIDEO_STEPS]
    trace = kept_trace(
        (run.run_name, frames.tobytes()),
        lambda: memory_many_to_many_synced.trace(
            checkpoint.model, torch.from_numpy(np.ascontiguousarray(frames))[None], influence=True
        ),
    )
    predicted = trace.outputs[0].argmax(-1).tolist()
    labels = [f"frame {t}" for t in range(len(frames))]
    outputs = [f"{t}: {names[p]}" for t, p in enumerate(predicted)]
    influence = Influence(
        trace.influence[0].numpy(),
        outputs,
        labels,
        "Each frame's influence (columns) on the logit of each frame's label (rows).",
    )
    show(
        tab,
        "many_to_many_synced-memory",
        layer_rows(trace, {"": labels}),
        influence,
        unit_index(run),
        " ".join(
            filter(
                None,
                [
                    "The convolutional GRU's state is a 16-channel 8×8 map per direction; each unit "
                    "here is one channel, averaged over the map.",
                    note,
                ],
            )
        ),
    )
