"""Measure how far back each shipped run remembers, the same way for every run of a topology, and index where each
recurrent unit fires on the test set; both are written beside the bundle as small JSON
(models/checkpoints/<topology>/<run>/memory/span.json and units.json), which the page's Memory tab reads.

    python -m training.memory_span many_to_one              # every shipped run of a topology
    python -m training.memory_span many_to_one --run gru    # one run
    python -m training.memory_span all
    python -m training.memory_span many_to_one --run-id <id>   # a tracked run: logged as its memory/ artifacts

training.train measures every run it finishes the same way and logs the two files as the run's memory/ artifacts,
so a run launched later (from the dashboard too) joins the span comparison and gets its unit index.

The spans (docs/memory.md says what they showed):
- one to one: how much blanking a band of rows moves P(true class), by row (the row-LSTM reads top to bottom);
- one to many: teacher-forced next-word accuracy by position in the caption (Show and Tell sees the image once,
  before the first word; with attention it reads it at every word);
- many to one: how much a sentiment word moves P(positive), by how many words before the end of the tweet it sits;
- many to many: BLEU by English sentence length on the new-sentences test set (the runs log it already);
- many to many, synced: frame accuracy by frames since the camera's motion last changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from models import TOPOLOGIES, memory, store
from models.checkpoint import load_checkpoint
from models.many_to_one import model_texts

SPAN_POINTS = 64  # at most this many points per curve: the file stays small


def write_json(folder: Path, name: str, content: dict) -> Path:
    target = folder / store.MEMORY_DIR / name
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(content, separators=(",", ":"), ensure_ascii=False))
    return target


def span_record(x: list, y: list, x_label: str, y_label: str, measure: str, **extra) -> dict:
    return {
        "x": list(x)[:SPAN_POINTS],
        "y": [round(float(v), 4) for v in y][:SPAN_POINTS],
        "x_label": x_label,
        "y_label": y_label,
        "measure": measure,
        **extra,
    }


def index_layers(
    trace: memory.MemoryTrace,
    indexes: dict[str, memory.UnitIndex],
    names: list[str],
    labels: list[dict[str, list[str]]],
) -> None:
    """Add every row of a traced batch to the unit index of each layer: ``names`` per row, ``labels`` per row
    (layer name -> step labels, "" for any layer)."""
    for layer in trace.layers:
        index = indexes.setdefault(layer.name, memory.UnitIndex(layer.states.shape[-1]))
        for row, (name, row_labels) in enumerate(zip(names, labels)):
            steps = row_labels.get(layer.name, row_labels.get(""))
            index.add(name, steps, layer.states[row, : len(steps)].numpy())


def units_record(indexes: dict[str, memory.UnitIndex], inputs: str) -> dict:
    return memory.fit_units({"inputs": inputs, "layers": {name: index.to_json() for name, index in indexes.items()}})


# -- one to one -------------------------------------------------------------------------------------------------


def one_to_one(runs: list[store.RunSummary], test_images: int = 2000) -> None:
    from models import memory_one_to_one
    from training.data.fashion_mnist import load_fashion_mnist

    splits = load_fashion_mnist()
    images = torch.from_numpy(splits.test_images[:test_images]).float().div(255)[:, None]  # (N, 1, 28, 28)
    truth = torch.from_numpy(splits.test_labels[:test_images]).long()
    band = 3
    for run in runs:
        checkpoint = load_checkpoint(run.bundle_dir)
        model = checkpoint.model
        with torch.no_grad():
            base = model.predict(images).gather(1, truth[:, None])[:, 0]
            effects = []
            for row in range(images.size(-2)):
                blanked = images.clone()
                blanked[..., max(0, row - band // 2) : row + band // 2 + 1, :] = 0
                effects.append((base - model.predict(blanked).gather(1, truth[:, None])[:, 0]).mean().item())
        write_json(
            run.bundle_dir,
            memory.SPAN_FILE,
            span_record(
                range(len(effects)),
                effects,
                "row blanked (top = 0, read first by a forward LSTM)",
                "drop in P(true class)",
                f"How much blanking a band of {band} rows lowers the probability of the true class, by where the band "
                f"is, on the first {len(truth)} Fashion-MNIST test images. The row-LSTM reads the rows as steps; the "
                "CNN and the MLP, which have no memory, show where the evidence lies in the image.",
            ),
        )
        if memory_one_to_one.has_memory(model):
            indexes: dict[str, memory.UnitIndex] = {}
            labels = checkpoint.config.labels
            for start in range(0, len(truth), 500):
                trace = memory_one_to_one.trace(model, images[start : start + 500])
                rows = range(start, min(start + 500, len(truth)))
                index_layers(
                    trace,
                    indexes,
                    [f"test image {i} ({labels[truth[i]]})" for i in rows],
                    [{"": [f"row {t}" for t in range(images.size(-2))]}] * len(rows),
                )
            write_json(
                run.bundle_dir,
                memory.UNITS_FILE,
                units_record(indexes, f"the first {len(truth)} Fashion-MNIST test images"),
            )
        print(f"{run.run_name}: largest drop {max(effects):.3f} at row {int(np.argmax(effects))}")


# -- one to many ------------------------------------------------------------------------------------------------


def one_to_many(runs: list[store.RunSummary], scenes: int = 500, seed: int = 2026) -> None:
    from models import memory_one_to_many
    from models.generators import fashion_scenes as world
    from models.one_to_many import GLYPHS_FILE, to_tensor

    for run in runs:
        checkpoint = load_checkpoint(run.bundle_dir)
        model = checkpoint.model
        glyphs = dict(np.load(checkpoint.file(GLYPHS_FILE)))
        rng = np.random.default_rng(seed)
        drawn = [world.sample_scene(rng, glyphs["labels"]) for _ in range(scenes)]
        images = to_tensor(np.stack([world.render_scene(scene, glyphs["images"]) for scene in drawn]))
        references = [world.sample_captions(scene, rng, 1, in_reading_order=True)[0].split() for scene in drawn]
        width = max(map(len, references)) + 2
        captions = torch.full((scenes, width), model.pad)
        for row, words in enumerate(references):
            ids = model.encode_caption(words)
            captions[row, : len(ids)] = torch.tensor(ids)
        hits, counts = np.zeros(width - 1), np.zeros(width - 1)
        indexes: dict[str, memory.UnitIndex] = {}
        for start in range(0, scenes, 100):
            batch = slice(start, start + 100)
            trace = memory_one_to_many.trace(model, images[batch], captions[batch])
            targets = captions[batch, 1:]
            real = (targets != model.pad).numpy()
            right = (trace.outputs.argmax(-1) == targets).numpy() & real
            hits += right.sum(0)
            counts += real.sum(0)
            greedy, _, _, _ = model.greedy(images[batch])
            written = [model.decode_tokens(row)[: model.config.max_length] for row in greedy]
            encoded = [model.encode_caption(words) for words in written]  # <bos> words <eos>
            caption = torch.full((len(written), max(map(len, encoded))), model.pad)
            for row, ids in enumerate(encoded):
                caption[row, : len(ids)] = torch.tensor(ids)
            index_layers(
                memory_one_to_many.trace(model, images[batch], caption),
                indexes,
                [" ".join(words) for words in written],
                [{"": ["<bos>", *words]} for words in written],
            )
        shown = counts >= 20  # positions most captions reach: a curve point from a handful of captions is noise
        positions = np.flatnonzero(shown)
        write_json(
            run.bundle_dir,
            memory.SPAN_FILE,
            span_record(
                [int(p) + 1 for p in positions],
                hits[shown] / counts[shown],
                "word position in the caption",
                "next-word accuracy (teacher forced)",
                f"Teacher-forced next-word accuracy by position, on {scenes} scenes drawn from the test-split glyphs "
                "shipped with each captioner (reading-order reference captions; positions at least 20 captions "
                "reach). Show and Tell reads the image once, before the first word; Show, Attend and Tell reads it "
                "again at every word.",
            ),
        )
        write_json(
            run.bundle_dir,
            memory.UNITS_FILE,
            units_record(indexes, f"greedy captions of {scenes} scenes drawn from the test-split glyphs"),
        )
        print(f"{run.run_name}: accuracy by position " + " ".join(f"{v:.2f}" for v in hits[shown] / counts[shown]))


# -- many to one ------------------------------------------------------------------------------------------------
SENTIMENT_WORDS = (("great", "terrible"), ("love", "hate"), ("happy", "sad"))
MAX_DISTANCE = 20  # words before the end of the tweet


def carrier_texts(tweets: list[str], classifier, count: int) -> list[str]:
    """Texts to insert sentiment words into: consecutive test tweets joined until they hold 2 × MAX_DISTANCE
    words (tweets are shorter, and a word near the start of a text has an effect of its own), keeping those that
    the tokenizer reads whole with a word more."""
    texts, words = [], []
    for tweet in tweets:
        words += tweet.split()
        if len(words) >= 2 * MAX_DISTANCE:
            texts.append(" ".join(words))
            words = []
    encoded = classifier.tokenizer.encode_spans(model_texts(texts, classifier.model.config))
    limit = classifier.model.config.max_tokens - 3  # room for the inserted word's pieces
    return [text for text, (ids, _, truncated) in zip(texts, encoded) if not truncated and len(ids) <= limit][:count]


def many_to_one(runs: list[store.RunSummary], carriers: int = 300, indexed: int = 2000) -> None:
    from models import memory_many_to_one
    from models.many_to_one import PAD_ID, TweetClassifier
    from training.data.tweets import load_tweet_splits

    for run in runs:
        params = run.params
        splits = load_tweet_splits(
            val_fraction=float(params.get("val_fraction", 0.1)),
            test_fraction=float(params.get("test_fraction", 0.1)),
            seed=int(params.get("seed", 0)),
        )
        tests = splits.texts["test"]
        checkpoint = load_checkpoint(run.bundle_dir)
        classifier = TweetClassifier.from_checkpoint(checkpoint, bfloat16=False)
        chosen = carrier_texts(tests, classifier, carriers)
        effects = []
        for distance in range(MAX_DISTANCE + 1):
            moved = []
            for positive, negative in SENTIMENT_WORDS:
                placed = {}
                for word in (positive, negative):
                    texts = []
                    for text in chosen:
                        words = text.split()
                        at = len(words) - distance
                        texts.append(" ".join(words[:at] + [word] + words[at:]))
                    placed[word] = classifier.probabilities(texts)[:, 1]
                moved.append(placed[positive] - placed[negative])
            effects.append(float(np.mean(moved)))
        write_json(
            run.bundle_dir,
            memory.SPAN_FILE,
            span_record(
                range(MAX_DISTANCE + 1),
                effects,
                "words between the sentiment word and the end of the tweet",
                "P(positive) with the positive word − with the negative one",
                f"A positive word and its opposite ({', '.join('/'.join(pair) for pair in SENTIMENT_WORDS)}) inserted "
                f"k words before the end of {len(chosen)} texts of consecutive test tweets joined to at least "
                f"{2 * MAX_DISTANCE} words (so that k = {MAX_DISTANCE} is still as far from the start), none cut by "
                "the tokenizer; the curve is the mean difference in P(positive). A network that forgets reads a word "
                "far from the end more weakly.",
                carriers=len(chosen),
            ),
        )
        indexes: dict[str, memory.UnitIndex] = {}
        texts = model_texts(tests[:indexed], checkpoint.config)
        encoded = classifier.tokenizer.encode_spans(texts)
        for start in range(0, len(encoded), 256):
            rows = encoded[start : start + 256]
            width = max(len(ids) for ids, _, _ in rows)
            batch = torch.full((len(rows), width), PAD_ID)
            for row, (ids, _, _) in enumerate(rows):
                batch[row, : len(ids)] = torch.tensor(ids)
            trace = memory_many_to_one.trace(
                checkpoint.model, batch, ngram_ids=classifier.ngram_ids(texts[start : start + 256])
            )
            pieces = [[text[a:b] for a, b in spans] for text, (_, spans, _) in zip(texts[start : start + 256], rows)]
            index_layers(trace, indexes, texts[start : start + 256], [{"": labels} for labels in pieces])
        write_json(run.bundle_dir, memory.UNITS_FILE, units_record(indexes, f"{len(encoded)} test tweets"))
        print(f"{run.run_name}: effect at the end {effects[0]:.3f}, {MAX_DISTANCE} words before {effects[-1]:.3f}")


# -- many to many -----------------------------------------------------------------------------------------------


def many_to_many(runs: list[store.RunSummary], indexed: int = 400) -> None:
    from models import memory_many_to_many
    from models.many_to_many import BOS, LENGTH_BUCKETS, PAD, Translator

    examples = None
    for run in runs:
        buckets = [name for name in LENGTH_BUCKETS if f"new_test_{name}_bleu_single" in run.metrics]
        if not buckets:
            print(f"{run.run_name}: no BLEU by length logged; skipped")
            continue
        labels = [f"{low}–{high}" if high else f"{low}+" for low, high in (LENGTH_BUCKETS[b] for b in buckets)]
        write_json(
            run.bundle_dir,
            memory.SPAN_FILE,
            span_record(
                labels,
                [run.metrics[f"new_test_{name}_bleu_single"] for name in buckets],
                "English words",
                "BLEU (1 reference, greedy)",
                "Greedy single-reference BLEU on the new-sentences test set by English sentence length, as each run "
                "logged it: a decoder that forgets the start of a long sentence loses most on the longest.",
                sentences=[int(run.metrics.get(f"new_test_{name}_sentences", 0)) for name in buckets],
            ),
        )
        if run.bundle_dir is None or not (run.bundle_dir / "model.safetensors").is_file():
            continue
        if examples is None:
            from training.data.tatoeba_spa import load_splits

            params = run.params
            examples = load_splits(
                int(params.get("model.trained_source_words", 30)),
                int(params.get("val_sentences", 1500)),
                int(params.get("test_sentences", 3000)),
                float(params.get("new_test_fraction", 0.03)),
                int(params.get("seed", 0)),
            ).new_test[:indexed]
        checkpoint = load_checkpoint(run.bundle_dir)
        translator = Translator.from_checkpoint(checkpoint, int8=False)  # the weights traced are these
        indexes: dict[str, memory.UnitIndex] = {}
        sentences = [example.en for example in examples]
        translations = translator.translate(sentences)
        index = {token: i for i, token in enumerate(translator.target_vocabulary)}
        for start in range(0, len(sentences), 100):
            chunk = translations[start : start + 100]
            sources = translator.encode_sources([t.source for t in chunk])
            targets = [[BOS] + [index[token] for token in t.target_tokens] for t in chunk]
            source = torch.full((len(chunk), max(map(len, sources))), PAD)
            target = torch.full((len(chunk), max(map(len, targets))), PAD)
            for row, (ids, out) in enumerate(zip(sources, targets)):
                source[row, : len(ids)], target[row, : len(out)] = torch.tensor(ids), torch.tensor(out)
            trace = memory_many_to_many.trace(checkpoint.model, source, target)
            step_labels = [{"": t.source_tokens, "decoder": ["[BOS]", *t.target_tokens[:-1]]} for t in chunk]
            index_layers(trace, indexes, [t.source for t in chunk], step_labels)
        write_json(
            run.bundle_dir,
            memory.UNITS_FILE,
            units_record(
                indexes, f"the first {len(sentences)} new-sentences test sentences and their greedy translations"
            ),
        )
        print(
            f"{run.run_name}: BLEU by length "
            + ", ".join(
                f"{label} {run.metrics[f'new_test_{name}_bleu_single']:.1f}" for label, name in zip(labels, buckets)
            )
        )


# -- many to many, synced ---------------------------------------------------------------------------------------
MAX_SINCE_CHANGE = 30  # frames


def many_to_many_synced(runs: list[store.RunSummary], clips: int = 60, frames: int = 128) -> None:
    from models import memory_many_to_many_synced
    from training.data.camera_motion import GeneratorConfig, clip_set

    test = clip_set("test", clips, frames, GeneratorConfig())
    truth = test.labels  # (N, T)
    changed = np.ones_like(truth, dtype=bool)
    changed[:, 1:] = truth[:, 1:] != truth[:, :-1]
    since = np.zeros_like(truth)
    for t in range(1, truth.shape[1]):
        since[:, t] = np.where(changed[:, t], 0, since[:, t - 1] + 1)
    for run in runs:
        checkpoint = load_checkpoint(run.bundle_dir)
        model, names = checkpoint.model, checkpoint.config.labels
        predicted = np.concatenate(
            [model.predict(torch.from_numpy(test.frames[i : i + 10])).argmax(-1).numpy() for i in range(0, clips, 10)]
        )
        right = predicted == truth
        distances = range(MAX_SINCE_CHANGE + 1)
        accuracy = [right[since == k].mean() if (since == k).any() else float("nan") for k in distances]
        write_json(
            run.bundle_dir,
            memory.SPAN_FILE,
            span_record(
                list(distances),
                accuracy,
                "frames since the camera's motion last changed",
                "frame accuracy",
                f"Frame accuracy on the first {clips} test clips ({frames} frames each) by how many frames ago the "
                "motion last changed (0: the first frame of a new motion, where the evidence is only in the next "
                "frame). A memoryless network stays flat and low; one that remembers climbs as evidence builds up.",
                frames=[int((since == k).sum()) for k in distances],
            ),
        )
        if memory_many_to_many_synced.has_memory(model):
            indexes: dict[str, memory.UnitIndex] = {}
            for start in range(0, clips, 10):
                trace = memory_many_to_many_synced.trace(model, torch.from_numpy(test.frames[start : start + 10]))
                rows = range(start, min(start + 10, clips))
                index_layers(
                    trace,
                    indexes,
                    [f"test clip {i}" for i in rows],
                    [{"": [f"{t}: {names[truth[i, t]]}" for t in range(frames)]} for i in rows],
                )
            write_json(run.bundle_dir, memory.UNITS_FILE, units_record(indexes, f"{clips} test clips"))
        print(
            f"{run.run_name}: accuracy at 0, 1, 5, 20 frames since a change: "
            + ", ".join(f"{accuracy[k]:.3f}" for k in (0, 1, 5, 20))
        )


MEASURES = {
    "one_to_one": one_to_one,
    "one_to_many": one_to_many,
    "many_to_one": many_to_one,
    "many_to_many": many_to_many,
    "many_to_many_synced": many_to_many_synced,
}


def measured_runs(topology: str, run_name: str | None) -> list[store.RunSummary]:
    """The topology's shipped runs with weights (and, for translation, the peer whose BLEU by length is logged)."""
    runs = [
        run
        for run in store.shipped_bundles(topology)
        if (run.bundle_dir / "model.safetensors").is_file()
        or (topology == "many_to_many" and "new_test_len_1_6_bleu_single" in run.metrics)
    ]
    if run_name is not None:
        runs = [run for run in runs if run.run_name == run_name]
        if not runs:
            raise SystemExit(f"no shipped {topology} run named {run_name!r}")
    return sorted(runs, key=lambda run: run.run_name)


# A dry run's measurement: the same code on a handful of inputs, so that it is tested, not measured.
DRY_RUN_SIZES = {
    "one_to_one": dict(test_images=50),
    "one_to_many": dict(scenes=40),  # positions are drawn where at least 20 captions reach
    "many_to_one": dict(carriers=10, indexed=20),
    "many_to_many": dict(indexed=10),
    "many_to_many_synced": dict(clips=2, frames=24),
}


def log_to_run(topology: str, run_id: str, dry_run: bool = False) -> list[str]:
    """Measure one tracked run from its logged checkpoint and log span.json and units.json (where the model has a
    recurrence) as its memory/ artifacts; returns the files logged. A run trained on other data (a Flickr8k
    captioner) is not measured: the measures use the built-in data, and its curve would not compare."""
    client = store.client()
    run = store.summarise(client.get_run(run_id))
    if store.dataset_of(run) != store.BUILTIN_DATASET:
        print(f"run {run_id} trained on {store.dataset_of(run)}: its memory is measured on the built-in data only")
        return []
    with tempfile.TemporaryDirectory(prefix="rnnlab-memory-") as scratch:
        folder = Path(scratch) / "run"
        shutil.copytree(store.download_checkpoint(run_id), folder)  # the cached download stays as it was logged
        MEASURES[topology](
            [dataclasses.replace(run, bundle_dir=folder)], **(DRY_RUN_SIZES[topology] if dry_run else {})
        )
        measured = folder / store.MEMORY_DIR
        if not measured.is_dir():
            return []
        client.log_artifacts(run_id, str(measured), store.MEMORY_DIR)
        return sorted(path.name for path in measured.iterdir())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.memory_span", description=__doc__.split("\n")[0])
    parser.add_argument("topology", choices=[*TOPOLOGIES, "all"])
    parser.add_argument("--run", help="one shipped run by name (default: every one)")
    parser.add_argument("--run-id", help="a tracked run instead of the shipped ones: log its memory/ artifacts")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run_id:
        if args.topology == "all":
            raise SystemExit("error: --run-id needs the run's topology, not all")
        print(f"logged {', '.join(log_to_run(args.topology, args.run_id)) or 'nothing'} to run {args.run_id}")
        return
    for topology in TOPOLOGIES if args.topology == "all" else [args.topology]:
        print(f"== {topology}")
        MEASURES[topology](measured_runs(topology, args.run))


if __name__ == "__main__":
    main()
