"""Fashion scenes: seeded, captioned scenes of real Fashion-MNIST garments, built once and cached outside git.

Train and validation scenes draw their glyphs from the Fashion-MNIST training split (train scenes from its
training part, validation scenes from its validation part); test and hold-out scenes from the official test
split, so no garment image is seen both in training and in testing. A few (garment, colour) pairs never occur in
train, validation or test scenes; every hold-out scene contains one of them (the compositional test).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from models.generators import fashion_scenes as world
from training.data.fashion_mnist import load_fashion_mnist
from training.data.sources import FASHION_MNIST, cache_dir

GENERATOR_VERSION = 1  # bump when the generator or grammar changes, so cached scenes are rebuilt
SPLITS = ("train", "val", "test", "holdout")


@dataclass
class SceneSplit:
    images: np.ndarray  # (N, S, S, 3) uint8
    captions: list[list[str]]  # N lists of the same number of references
    scenes: list[world.Scene]


def parse_pairs(pairs: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """``("dress:red", …)`` as (garment, colour) pairs, checked against the world's words."""
    parsed = set()
    for pair in pairs:
        garment, _, colour = pair.partition(":")
        if garment not in world.GARMENT_WORDS or colour not in world.COLOURS:
            raise ValueError(f"hold-out pair {pair!r} is not garment:colour of known words")
        parsed.add((garment, colour))
    return frozenset(parsed)


def _scene_to_json(scene: world.Scene) -> dict:
    return asdict(scene)


def _scene_from_json(values: dict) -> world.Scene:
    return world.Scene(
        tuple(world.SceneObject(**item) for item in values["objects"]),
        tuple(values["background"]),
        values["texture_seed"],
    )


def build_split(
    count: int,
    seed: int,
    glyphs: np.ndarray,
    labels: np.ndarray,
    references: int,
    forbidden: frozenset,
    required: frozenset = frozenset(),
    garments: tuple[str, ...] = world.SCENE_GARMENTS,
) -> SceneSplit:
    rng = np.random.default_rng(seed)
    scenes = world.sample_scenes(rng, labels, count, garments, forbidden=forbidden, required=required)
    images = (
        np.stack([world.render_scene(scene, glyphs) for scene in scenes])
        if scenes
        else np.zeros((0, world.SCENE_SIZE, world.SCENE_SIZE, 3), np.uint8)
    )
    captions = [world.sample_captions(scene, rng, references) for scene in scenes]
    return SceneSplit(images, captions, scenes)


def load_fashion_scenes(
    sizes: dict[str, int],
    seed: int,
    holdout_pairs: tuple[str, ...],
    references: int = 4,
    garments: tuple[str, ...] = world.SCENE_GARMENTS,
) -> dict[str, SceneSplit]:
    """The four splits, from the cache when the same settings were built before."""
    settings = {
        "sizes": {s: sizes[s] for s in SPLITS},
        "seed": seed,
        "holdout": sorted(holdout_pairs),
        "references": references,
        "garments": list(garments),
        "version": GENERATOR_VERSION,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "fashion-scenes" / f"scenes-{key}.npz"
    if path.exists():
        with np.load(path) as cached:
            meta = json.loads(str(cached["meta"]))
            return {
                split: SceneSplit(
                    cached[f"{split}_images"],
                    meta[split]["captions"],
                    [_scene_from_json(s) for s in meta[split]["scenes"]],
                )
                for split in SPLITS
            }
    held_out = parse_pairs(holdout_pairs)
    mnist = load_fashion_mnist(seed=seed)
    banks = {
        "train": (mnist.train_images, mnist.train_labels),
        "val": (mnist.val_images, mnist.val_labels),
        "test": (mnist.test_images, mnist.test_labels),
        "holdout": (mnist.test_images, mnist.test_labels),
    }
    splits = {}
    for offset, split in enumerate(SPLITS):
        glyphs, labels = banks[split]
        required = held_out if split == "holdout" else frozenset()
        forbidden = frozenset() if split == "holdout" else held_out
        splits[split] = build_split(
            sizes[split], seed * 10 + offset, glyphs, labels, references, forbidden, required, garments
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        split: {"captions": splits[split].captions, "scenes": [_scene_to_json(s) for s in splits[split].scenes]}
        for split in SPLITS
    }
    temporary = path.with_suffix(".tmp.npz")
    np.savez_compressed(temporary, meta=json.dumps(meta), **{f"{s}_images": splits[s].images for s in SPLITS})
    temporary.replace(path)
    return splits


def glyph_sheet(per_class: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A few Fashion-MNIST test glyphs per class (images, labels): enough for the page to draw new scenes."""
    mnist = load_fashion_mnist(seed=seed)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [
            rng.choice(np.flatnonzero(mnist.test_labels == label), per_class, replace=False)
            for label in range(len(world.GARMENT_WORDS))
        ]
    )
    return mnist.test_images[chosen], mnist.test_labels[chosen]


def dataset_card(
    sizes: dict[str, int],
    seed: int,
    holdout_pairs: tuple[str, ...],
    references: int,
    garments: tuple[str, ...] = world.SCENE_GARMENTS,
) -> str:
    relation_lines = "; ".join(f"{name}: {' / '.join(words)}" for name, words in world.RELATION_WORDS.items())
    return "\n".join(
        [
            "## Fashion scenes (generated)",
            "",
            f"{world.SCENE_SIZE}×{world.SCENE_SIZE} RGB scenes of 1–3 real Fashion-MNIST garments, each a distinct "
            f"class among {', '.join(garments)}; coloured ({', '.join(world.COLOURS)}) by mixing the colour over the "
            f"background in proportion to the glyph's intensity; small ({world.SIZES['small']} px) or large "
            f"({world.SIZES['large']} px); placed at random with at most {world.MAX_OVERLAP:.0%} overlap of the "
            "smaller "
            f"box and every pair clearly side by side or one above the other (main-axis offset ≥ "
            f"{world.MIN_AXIS_RATIO:g}× the other and ≥ {world.MIN_OFFSET} px); on a dark plain or lightly textured "
            "(smooth noise) background, half of each.",
            "",
            f"Captions come from the scene graph through a small grammar: {references} distinct references per scene, "
            "varied in object order, relation words, how an object is mentioned again and the opening "
            f'("there is …"). Relations — {relation_lines}. Every caption parses back to its scene '
            "(tested), which is how generated captions are scored for meaning.",
            "",
            "- Generator: `training/data/scene_captions.py` + `models/generators/fashion_scenes.py`, "
            f"version {GENERATOR_VERSION}, seed {seed}; cached under `$RNNLAB_CACHE/fashion-scenes/`, never committed.",
            f"- Scenes: train {sizes['train']}, validation {sizes['val']}, test {sizes['test']}, "
            f"compositional hold-out {sizes['holdout']}.",
            "- Glyphs: train scenes from Fashion-MNIST's training part, validation scenes from its 5,000-image "
            "validation part, test and hold-out scenes from the official test split.",
            f"- Compositional hold-out: the pairs {', '.join(holdout_pairs) or 'none'} never occur in train, "
            "validation "
            "or test scenes; each hold-out scene contains at least one of them.",
            "- Pullover, coat and shirt are left out by default: at 28×28 they are confused with each other and with "
            "t-shirts about one time in five even by strong classifiers.",
            "",
            FASHION_MNIST.card(),
        ]
    )
