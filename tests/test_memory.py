"""Tracing recurrent networks step by step (models/memory*.py): the traced outputs equal each model's forward on
every shipped run, uni- and bidirectional, on padded batches; unit orders are deterministic; the unit index stays
bounded."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models import (
    memory,
    memory_many_to_many,
    memory_many_to_many_synced,
    memory_many_to_one,
    memory_one_to_many,
    memory_one_to_one,
    store,
)
from models.checkpoint import load_checkpoint

CHECKPOINTS = Path(__file__).resolve().parents[1] / "models" / "checkpoints"
TOLERANCE = 1e-5


def shipped(topology: str) -> list[Path]:
    return sorted(path.parent for path in (CHECKPOINTS / topology).glob("*/model.safetensors"))


def close(traced: torch.Tensor, expected: torch.Tensor) -> None:
    assert traced.shape == expected.shape
    assert (traced - expected).abs().max().item() < TOLERANCE


@pytest.mark.parametrize("module_class", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_fused_module_traced_equals_it_on_a_padded_batch(module_class, bidirectional):
    torch.manual_seed(0)
    module = module_class(5, 7, num_layers=2, bidirectional=bidirectional, batch_first=True).eval()
    inputs, lengths = torch.randn(3, 6, 5), torch.tensor([6, 2, 4])
    with torch.no_grad():
        packed_out, packed_final = module(pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False))
        expected, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=6)
        traced, final, layers = memory.trace_module(module, inputs, lengths)
        close(traced, expected)
        for mine, theirs in zip(
            final if isinstance(final, tuple) else (final,),
            packed_final if isinstance(packed_final, tuple) else (packed_final,),
        ):
            close(mine, theirs)
        unpadded_out, _ = module(inputs)  # without lengths: every row runs all steps, as the fused call does
        close(memory.trace_module(module, inputs)[0], unpadded_out)
    assert len(layers) == 2 * (2 if bidirectional else 1)
    assert set(layers[0].gates) == set(memory.GATES[memory.cell_kind(module)])
    assert (layers[0].states[1, 2:] == 0).all()  # padding reads 0


def test_the_row_lstm_traced_equals_forward():
    [directory] = [d for d in shipped("one_to_one") if d.name == "row_lstm"]
    model = load_checkpoint(directory).model
    images = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected, _ = model(images)
    traced = memory_one_to_one.trace(model, images, influence=True)
    close(traced.outputs, expected)
    assert len(traced.layers) == 4 and traced.influence.shape == (3, 1, 28)
    assert not memory_one_to_one.has_memory(load_checkpoint(CHECKPOINTS / "one_to_one" / "cnn").model)


@pytest.mark.parametrize("directory", shipped("many_to_one"), ids=lambda d: d.name)
def test_every_sentiment_run_traced_equals_forward_on_a_padded_batch(directory):
    model = load_checkpoint(directory).model
    torch.manual_seed(1)
    ids = torch.randint(5, model.config.vocab_size, (3, 9))
    ids[1, 4:], ids[2, 1:] = 0, 0  # right padding; one row of a single token
    ngram_ids = torch.tensor([[7, 11, 13], [17, 0, 0], [19, 23, 0]]) if model.config.ngram_buckets else None
    with torch.no_grad():
        expected, _ = model(ids, ngram_ids)
    traced = memory_many_to_one.trace(model, ids, influence=True, ngram_ids=ngram_ids)
    close(traced.outputs, expected)
    assert traced.lengths.tolist() == [9, 4, 1]
    assert traced.influence.shape == (3, 1, 9) and (traced.influence[1, 0, 4:] == 0).all()
    alone = memory_many_to_one.trace(model, ids[1:2, :4], ngram_ids=None if ngram_ids is None else ngram_ids[1:2])
    # a padded row's states are those it has alone
    for in_batch, single in zip(traced.layers, alone.layers):
        close(in_batch.states[1:2, :4], single.states)
    assert len(traced.layers) == (2 if model.config.bidirectional else 1)


@pytest.mark.parametrize("directory", shipped("many_to_many"), ids=lambda d: d.name)
def test_every_translation_run_traced_equals_forward_on_a_padded_batch(directory):
    model = load_checkpoint(directory).model
    torch.manual_seed(2)
    source = torch.randint(4, model.config.source_vocab, (2, 7))
    source[1, 3:] = 0
    source[0, -1], source[1, 2] = 3, 3  # [EOS] ends each sentence
    target = torch.randint(4, model.config.target_vocab, (2, 6))
    target[:, 0], target[0, -1], target[1, 3], target[1, 4:] = 2, 3, 3, 0
    with torch.no_grad():
        expected, _ = model(source, target)
    traced = memory_many_to_many.trace(model, source, target, influence=True)
    real = target[:, 1:] != 0
    close(traced.outputs[real], expected[real])
    assert [layer.name for layer in traced.layers] == ["encoder, forward", "encoder, backward", "decoder"]
    assert traced.influence.shape == (2, 5, 7) and (traced.influence[1, :, 3:] == 0).all()


@pytest.mark.parametrize("directory", shipped("one_to_many"), ids=lambda d: d.name)
def test_every_captioner_traced_equals_forward_on_a_padded_batch(directory):
    model = load_checkpoint(directory).model
    torch.manual_seed(3)
    images = torch.rand(2, 3, model.config.image_size, model.config.image_size)
    captions = torch.randint(4, model.config.vocabulary_size, (2, 8))
    captions[:, 0] = model.bos
    captions[0, -1], captions[1, 4], captions[1, 5:] = model.eos, model.eos, model.pad
    with torch.no_grad():
        expected, _ = model(images, captions)
    traced = memory_one_to_many.trace(model, images, captions, influence=True)
    real = captions[:, 1:] != model.pad
    close(traced.outputs[real], expected[real])
    assert traced.lengths.tolist() == [7, 4]
    assert traced.influence.shape == (2, 7, 7)
    assert traced.influence[0].triu(1).abs().max() == 0  # a word never depends on the words after it


@pytest.mark.parametrize("directory", shipped("many_to_many_synced"), ids=lambda d: d.name)
def test_every_video_labeller_traced_equals_forward(directory):
    model = load_checkpoint(directory).model
    if not memory_many_to_many_synced.has_memory(model):
        with pytest.raises(ValueError):
            memory_many_to_many_synced.trace(model, torch.zeros(1, 2, 64, 64, dtype=torch.uint8))
        return
    torch.manual_seed(4)
    frames = torch.randint(0, 256, (2, 10, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        expected, _ = model(frames)
    traced = memory_many_to_many_synced.trace(model, frames, influence=True)
    close(traced.outputs, expected)
    assert traced.influence.shape == (2, 10, 10)
    assert all(layer.states.shape == (2, 10, model.config.state_channels) for layer in traced.layers)
    if model.config.recurrence == "uni":  # a frame's label never depends on later frames
        assert traced.influence[0].triu(1).abs().max() == 0


def test_unit_order_is_deterministic_and_a_permutation():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(12, 20))
    states[:, 5] = states[:, 6]  # a tie in peak time
    for method in ("peak", "cluster"):
        order = memory.order_units(states, method)
        assert sorted(order.tolist()) == list(range(20))
        assert order.tolist() == memory.order_units(states.copy(), method).tolist()
    peak = memory.order_units(states, "peak")
    peaks = np.abs(states).argmax(0)[peak]
    assert (np.diff(peaks) >= 0).all()
    assert peak.tolist().index(5) < peak.tolist().index(6)


def test_remembering_reads_the_gates():
    gates = {"forget": np.array([[0.9, 0.9]]), "input": np.array([[0.1, 0.8]])}
    assert memory.remembering("lstm", gates).tolist() == [[True, False]]
    assert memory.remembering("gru", {"update": np.array([[0.6, 0.4]])}).tolist() == [[True, False]]
    assert memory.remembering("rnn", {}) is None


def test_the_unit_index_keeps_the_top_inputs_per_unit_and_stays_bounded():
    index = memory.UnitIndex(units=2, top=2, window=3)
    for number in range(50):
        states = np.zeros((6, 2))
        states[number % 6, 0] = number  # unit 0 fires hardest on the latest inputs
        states[2, 1] = -number
        index.add(f"input {number} " + "x" * 200, [f"step{t}" for t in range(6)], states)
    built = index.to_json()
    assert built["inputs_seen"] == 50
    first = built["units"][0]
    assert [entry["input"].split()[1] for entry in first] == ["49", "48"]
    assert all(len(entry["steps"]) == 3 and len(entry["input"]) <= 4 * memory.LABEL_CHARS for entry in first)
    top = first[0]
    assert top["steps"][top["peak"]] == f"step{49 % 6}" and top["values"][top["peak"]] == 49
    assert [entry["input"].split()[1] for entry in built["units"][1]] == ["0", "1"]  # ties: the earlier input
    with pytest.raises(ValueError):
        index.add("wrong", ["a"], np.zeros((2, 2)))


SHIPPED_MEMORY = sorted(CHECKPOINTS.glob(f"*/*/{store.MEMORY_DIR}/*.json"))


@pytest.mark.parametrize("path", SHIPPED_MEMORY, ids=lambda p: f"{p.parents[1].name}-{p.name}")
def test_the_shipped_memory_files_are_small_and_well_formed(path):
    import json

    content = json.loads(path.read_text())
    if path.name == memory.SPAN_FILE:
        assert 1 < len(content["x"]) == len(content["y"]) <= 64
        assert content["measure"] and content["x_label"] and content["y_label"]
        return
    assert path.stat().st_size <= memory.UNITS_BYTES
    assert content["layers"]
    for index in content["layers"].values():
        assert index["inputs_seen"] > 0
        for entries in index["units"]:
            assert len(entries) <= index["top"]
            assert all(len(entry["steps"]) == len(entry["values"]) <= index["window"] for entry in entries)


def test_a_wide_unit_index_is_trimmed_to_its_budget_around_each_peak():
    index = memory.UnitIndex(units=300)
    rng = np.random.default_rng(0)
    for number in range(20):
        index.add(f"input {number}", [f"token{t}" for t in range(30)], rng.normal(size=(30, 300)))
    record = {"inputs": "fixture", "layers": {"decoder": index.to_json()}}
    fitted = memory.fit_units(record, budget=60_000)
    size = len(json.dumps(fitted, separators=(",", ":")).encode())
    assert size <= 60_000 < len(json.dumps(record, separators=(",", ":")).encode())
    kept = fitted["layers"]["decoder"]
    for full, trimmed in zip(index.to_json()["units"], kept["units"]):
        assert trimmed[0]["input"] == full[0]["input"]  # every unit keeps its top input
        entry = trimmed[0]
        assert entry["values"][entry["peak"]] == max(full[0]["values"])  # and its peak
        assert len(entry["steps"]) == kept["window"] < memory.UNIT_WINDOW
    with pytest.raises(ValueError):
        memory.fit_units(record, budget=1_000)


def test_a_run_trained_later_logs_its_memory_span_and_the_page_reads_it(tracking_store):
    """training.train measures every run it finishes: the curve is logged as the run's memory/ artifacts and the
    Memory tab's span comparison finds it, as it finds a shipped bundle's."""
    from dashboard.components import memory_view
    from tests.conftest import logged_memory, tiny_mlp_run
    from training import train

    run_id = train.main(tiny_mlp_run("trained-later"))
    assert logged_memory(run_id) == [memory.SPAN_FILE]  # an MLP has no recurrence: a span curve, no unit index
    run = store.summarise(store.client().get_run(run_id))
    span = json.loads((memory_view.memory_folder(run) / memory.SPAN_FILE).read_text())
    assert len(span["x"]) == len(span["y"]) == 28 and span["x_label"].startswith("row blanked")
    assert memory_view.unit_index(run) is None
