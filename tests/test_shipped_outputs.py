"""Every shipped bundle, and the peers that need no training, give the same outputs on fixed inputs as when the
outputs were recorded: a refactor of a model file must not change a weight's name or a number.

The recorded outputs live in tests/shipped_outputs.json, keyed by bundle, with the sha256 of the weights they were
computed from. A bundle re-exported on purpose (new weights) is skipped until its outputs are recorded again:

    .venv/bin/python -m tests.test_shipped_outputs --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import MODEL_FILE, WEIGHTS_FILE, load_checkpoint
from models.store import SHIPPED_DIR

RECORDED = Path(__file__).with_name("shipped_outputs.json")
SENTENCES = (
    "The cat is sleeping on the sofa.",
    "I would like a cup of coffee, please.",
    "We went to the beach yesterday because the weather was nice.",
)


def fixed_images(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(0))


def outputs_of(topology: str, folder: Path) -> dict[str, list]:
    """Named outputs of one bundle on fixed inputs: numbers as flat float lists, texts as lists of strings."""
    checkpoint = load_checkpoint(folder)
    model, config = checkpoint.model, checkpoint.config
    torch.manual_seed(0)
    if topology == "one_to_one":
        return {"probabilities": model.predict(fixed_images((4, 1, 28, 28))).flatten().tolist()}
    if topology == "one_to_many":
        images = fixed_images((3, 3, config.image_size, config.image_size))
        tokens, _, log_probs, entropies = model.greedy(images)
        caption = torch.tensor([model.encode_caption("a large red dress".split()) + [model.pad]] * 3)
        with torch.no_grad():
            logits, loss = model(images, caption)
        beams = model.beam_search(images, beam_width=3)
        return {
            "greedy_tokens": tokens.flatten().tolist(),
            "greedy_log_probs": log_probs.flatten().tolist(),
            "greedy_entropies": entropies.flatten().tolist(),
            "teacher_forced_loss": [loss.item()],
            "teacher_forced_logits": logits[:, :3, :8].flatten().tolist(),
            "beam_scores": [score for hypotheses in beams for _, score, _ in hypotheses],
            "beam_tokens": [float(t) for hypotheses in beams for tokens, _, _ in hypotheses for t in tokens],
        }
    if topology == "many_to_one":
        from models.many_to_one import TweetClassifier
        from models.tweet_text import SEED_TWEETS

        classifier = TweetClassifier.from_checkpoint(checkpoint, bfloat16=False)
        texts = [text for text, _ in SEED_TWEETS]
        explained = classifier.explain(texts)
        return {
            "probabilities": classifier.probabilities(texts).flatten().tolist(),
            "labels": [e.label for e in explained],
            "piece_weights": [w for e in explained for _, w in (e.pieces or [])],
        }
    if topology == "many_to_many":
        from models.many_to_many import Translator

        translator = Translator.from_checkpoint(checkpoint, int8=False)
        greedy = translator.translate(list(SENTENCES))
        beam = translator.translate(list(SENTENCES), 3)
        return {
            "greedy": [t.text for t in greedy],
            "beam": [t.text for t in beam],
            "beam_scores": [score for t in beam for _, score in t.n_best],
            "attention": torch.cat([t.attention.flatten() for t in greedy]).tolist(),
        }
    if topology == "many_to_many_synced":
        frames = (fixed_images((300, config.frame_size, config.frame_size)) * 255).to(torch.uint8)
        return {"probabilities": model.label_video(frames.numpy(), chunk_frames=128).flatten().tolist()}
    raise ValueError(topology)


def peer_outputs() -> dict[str, list]:
    """The peers that need no training, on the same fixed inputs."""
    from models.peers import GlobalMotionPeer, VaderPeer
    from models.tweet_text import SEED_TWEETS

    frames = np.zeros((24, 64, 64), np.uint8)
    scene = (fixed_images((96, 96)).numpy() * 255).astype(np.uint8)
    for t in range(24):  # a camera panning right over a noise texture: the content slides left
        frames[t] = scene[16:80, 24 - t : 88 - t]
    return {
        "vader_compound": VaderPeer().scores([text for text, _ in SEED_TWEETS]).tolist(),
        "global_motion": GlobalMotionPeer().label_video(frames).argmax(1).astype(float).tolist(),
    }


def bundles() -> list[tuple[str, Path]]:
    return sorted((folder.parent.name, folder) for folder in SHIPPED_DIR.glob("*/*") if (folder / MODEL_FILE).is_file())


def weights_digest(folder: Path) -> str:
    return hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()


def key(topology: str, folder: Path) -> str:
    return f"{topology}/{folder.name}"


def assert_same(actual: dict[str, list], expected: dict[str, list], where: str) -> None:
    assert actual.keys() == expected.keys(), where
    for name, values in expected.items():
        if values and isinstance(values[0], str):
            assert actual[name] == values, f"{where}: {name}"
        else:
            np.testing.assert_allclose(actual[name], values, rtol=1e-5, atol=1e-6, err_msg=f"{where}: {name}")


@pytest.mark.parametrize("topology, folder", bundles(), ids=lambda value: getattr(value, "name", value))
def test_shipped_bundle_gives_its_recorded_outputs(topology, folder):
    recorded = json.loads(RECORDED.read_text())
    entry = recorded.get(key(topology, folder))
    if entry is None or entry["weights_sha256"] != weights_digest(folder):
        pytest.skip(
            f"{key(topology, folder)} has new weights; record them with `python -m tests.test_shipped_outputs --write`"
        )
    torch.set_num_threads(1)  # the recorded numbers were computed with one thread
    assert_same(outputs_of(topology, folder), entry["outputs"], key(topology, folder))


def test_untrained_peers_give_their_recorded_outputs():
    assert_same(peer_outputs(), json.loads(RECORDED.read_text())["peers"], "peers")


def write() -> None:
    torch.set_num_threads(1)
    recorded = {
        key(topology, folder): {"weights_sha256": weights_digest(folder), "outputs": outputs_of(topology, folder)}
        for topology, folder in bundles()
    }
    recorded["peers"] = peer_outputs()
    RECORDED.write_text(json.dumps(recorded) + "\n")
    print(f"{RECORDED}: {len(recorded) - 1} bundles and the peers")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.test_shipped_outputs --write")
    write()
