"""One to many: caption an image. By default the generated fashion scenes, scored by BLEU and by meaning (each
caption parsed back into a scene graph); with ``data=flickr8k data_dir=…`` a user's own captioned photos (BLEU)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models import one_to_many
from models.generators import fashion_scenes as world
from models.generators.fashion_scenes import PAD, SPECIAL_TOKENS
from models.one_to_many import GLYPHS_FILE, OOD_FILE
from training.batching import TensorBatches
from training.data import scene_captions
from training.data.real_photos import real_photos
from training.evaluation import out_of_domain_threshold
from training.metrics import bleu_n_scores
from training.tasks import Pretraining, Task
from training.trainer import TrainConfig

EVAL_BATCH = 250
# The settings only one kind of data uses: a run on the other logs none of them.
SCENE_SETTINGS = frozenset(
    {
        "train_scenes",
        "val_scenes",
        "test_scenes",
        "holdout_scenes",
        "holdout_pairs",
        "references",
        "targets",
        "pretrain_epochs",
        "model.vocabulary",
    }
)  # a Flickr run's vocabulary comes from its captions
FLICKR_SETTINGS = frozenset({"data_dir", "min_word_count", "val_fraction", "test_fraction"})


@dataclass(frozen=True)
class Config(TrainConfig):
    model: one_to_many.Config = field(default_factory=one_to_many.Config)
    epochs: int = 12
    batch_size: int = 64
    patience: int = 4
    data: str = "scenes"  # "scenes" (generated) | "flickr8k" (a folder in the Flickr8k layout, see data_dir)
    data_dir: str = ""
    train_scenes: int = 12000
    val_scenes: int = 1000
    test_scenes: int = 2000
    holdout_scenes: int = 1000
    holdout_pairs: tuple[str, ...] = ("dress:red", "sneaker:blue", "bag:green", "t-shirt:yellow", "sandal:white")
    references: int = 4  # captions per scene
    # What the decoder learns to say (scenes): "reading_order" = the grammar's captions that name the garments in
    # reading order (left or above first), wording still varied; "references" = the references, in any order. BLEU
    # is always against the references.
    targets: str = "reading_order"
    # Epochs of naming what lies at each grid cell before captioning (scenes only; see CellTagger); 0 = none.
    pretrain_epochs: int = 0
    test_beam_width: int = 1  # 1 = greedy; the test split is decoded the same way
    min_word_count: int = 5  # flickr8k: rarer words become <unk>
    val_fraction: float = 0.1  # flickr8k
    test_fraction: float = 0.1  # flickr8k


@dataclass
class CaptionData:
    images: torch.Tensor  # (N, S, S, 3) uint8
    tokens: torch.Tensor  # (N, K, T) <bos> words <eos> <pad>…: K captions per image the decoder learns to say
    references: list[tuple[str, ...]]  # per image its reference captions as strings
    scenes: list[world.Scene] | None  # the scene graphs, when the images are generated scenes


def token_tensor(model: one_to_many.Captioner, captions: list[list[list[str]]]) -> torch.Tensor:
    """Captions (per image, several word lists) as (N, K, T) ids; an image with fewer than K references repeats
    its first ones, so each is drawn about equally often."""
    per_image = max(len(c) for c in captions)
    encoded = [[model.encode_caption(c[k % len(c)]) for k in range(per_image)] for c in captions]
    longest = max(len(ids) for image in encoded for ids in image)
    tokens = torch.full((len(captions), per_image, longest), model.pad, dtype=torch.long)
    for i, image in enumerate(encoded):
        for k, ids in enumerate(image):
            tokens[i, k, : len(ids)] = torch.tensor(ids)
    return tokens


def pick_target(batch: dict) -> dict:
    """One of each image's target captions at random (a fresh choice every epoch), cut to the batch's longest;
    the cell labels pass through when the batch has them."""
    tokens = batch["targets"]
    choice = torch.randint(tokens.size(1), (tokens.size(0),))
    captions = tokens[torch.arange(tokens.size(0)), choice]  # (B, K, T) -> (B, T)
    longest = int((captions != SPECIAL_TOKENS.index(PAD)).sum(1).max())
    inputs = {"images": one_to_many.to_tensor(batch["images"]), "captions": captions[:, :longest]}
    return inputs | ({"cell_labels": batch["cell_labels"]} if "cell_labels" in batch else {})


def decode(model: one_to_many.Captioner, images: torch.Tensor, beam_width: int) -> list[one_to_many.Hypothesis]:
    """The best caption of each image (uint8 (N, S, S, 3)), in batches."""
    model.eval()
    best = []
    for start in range(0, len(images), EVAL_BATCH):
        batch = one_to_many.to_tensor(images[start : start + EVAL_BATCH])
        best += [hypotheses[0] for hypotheses in model.caption(batch, beam_width)]
    return best


def caption_scores(model, data: CaptionData, beam_width: int) -> dict[str, float]:
    hypotheses = decode(model, data.images, beam_width)
    texts = [" ".join(h.words) for h in hypotheses]
    scores = bleu_n_scores(texts, data.references)
    if data.scenes is not None:
        scores.update(world.scene_scores([world.compare_scene(t, s) for t, s in zip(texts, data.scenes)]))
    return scores


def teacher_forced_loss(model, data: CaptionData) -> float:
    """Cross-entropy of each image's first target caption, the training loss measured without dropout."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in TensorBatches({"images": data.images, "targets": data.tokens[:, :1]}, EVAL_BATCH):
            _, loss = model(**pick_target(batch))
            total, count = total + loss.item() * len(batch["images"]), count + len(batch["images"])
    return total / max(count, 1)


# ---- encoder pretraining -------------------------------------------------------------------------------------


def cell_label_tensor(scenes: list[world.Scene], grid_side: int) -> torch.Tensor:
    """(N, 3, L) garment / colour / size per grid cell of each scene (see world.cell_labels)."""
    return torch.from_numpy(np.stack([world.cell_labels(scene, grid_side) for scene in scenes]))


def tagging_scores(tagger: one_to_many.CellTagger, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Over the cells a garment owns: how often its garment, colour and size are named right; and the share of
    empty cells taken for a garment."""
    predicted = torch.cat(
        [
            tagger.predict(one_to_many.to_tensor(images[start : start + EVAL_BATCH]))
            for start in range(0, len(images), EVAL_BATCH)
        ]
    )  # (N, 3, L)
    owned = labels[:, 0] > 0  # (N, L)
    right = predicted == labels  # (N, 3, L)
    return {
        "garment_accuracy": right[:, 0][owned].float().mean().item(),
        "colour_accuracy": right[:, 1][owned].float().mean().item(),
        "size_accuracy": right[:, 2][owned].float().mean().item(),
        "false_garment_rate": (predicted[:, 0][~owned] > 0).float().mean().item(),
    }


def encoder_pretraining(
    model: one_to_many.Captioner, data: dict[str, CaptionData], labels: dict[str, torch.Tensor], config: Config
) -> Pretraining:
    tagger = model.cell_tagger()
    to_model = lambda batch: {"images": one_to_many.to_tensor(batch["images"]), "labels": batch["labels"]}  # noqa: E731
    return Pretraining(
        model=tagger,
        train_batches=TensorBatches(
            {"images": data["train"].images, "labels": labels["train"]},
            config.batch_size,
            shuffle=True,
            transform=to_model,
        ),
        evaluate=lambda tagger, split: tagging_scores(tagger, data[split].images, labels[split]),
        selection_metric="garment_accuracy",
        epochs=config.pretrain_epochs,
    )


# ---- out-of-domain signal ------------------------------------------------------------------------------------


def photo_images(size: int, crops_per_photo: int = 8, seed: int = 0) -> np.ndarray:
    """Real photos nothing like a scene, whole and as random crops, letterboxed."""
    return np.stack([one_to_many.letterbox(photo, size) for photo in real_photos(crops_per_photo, seed)])


def word_entropies(model, images: np.ndarray) -> np.ndarray:
    """Each greedy caption's highest word entropy. Its most hesitant word says more than the mean: on a photo the
    captioner often writes a fluent caption around one or two guesses (AUC against real photos 0.92 for the
    highest, 0.86 for the mean, with a champion trained on 45,000 scenes)."""
    return np.array([h.entropy for h in decode(model, torch.from_numpy(images), beam_width=1)])


def entropy_threshold(in_domain: np.ndarray, out_of_domain: np.ndarray, false_alarms: float = 0.05) -> dict:
    """The threshold on a caption's highest word entropy above which an input is flagged, chosen on held-out
    scenes against real photos (see training.evaluation.out_of_domain_threshold)."""
    chosen = out_of_domain_threshold(in_domain, out_of_domain, false_alarms)
    return {
        "statistic": one_to_many.OOD_STATISTIC,
        "threshold": chosen["threshold"],
        "scenes_flagged": chosen["in_domain_flagged"],
        "photos_flagged": chosen["out_of_domain_flagged"],
        "auc": chosen["auc"],
        "scenes": len(in_domain),
        "photos": len(out_of_domain),
    }


def write_out_of_domain(model: one_to_many.Captioner, folder: Path, scenes: np.ndarray, photos: np.ndarray) -> dict:
    """Measure the threshold with these very weights (validation scenes against real photos) and save it."""
    calibration = entropy_threshold(word_entropies(model, scenes), word_entropies(model, photos))
    (folder / OOD_FILE).write_text(json.dumps(calibration, indent=1))
    return calibration


# ---- data ------------------------------------------------------------------------------------------------------


def target_captions(split: scene_captions.SceneSplit, config: Config, seed: int) -> list[list[str]]:
    """The captions the decoder learns to say for each scene (see Config.targets).

    In any order, the decoder must choose the relation after one garment before it names the other; in a
    three-garment scene either of the two others may follow, so it half-commits to one, then names the other, and
    the relation is wrong (most of the relation errors of a model trained on all orders). A fixed order removes that
    choice: as Vinyals et al. found in "Order Matters" (2016), a set is best learnt as a sequence in one order."""
    if config.targets == "references":
        return split.captions
    if config.targets != "reading_order":
        raise SystemExit(f"targets must be 'reading_order' or 'references', not {config.targets!r}")
    rng = np.random.default_rng(seed)
    return [world.sample_captions(scene, rng, config.references, in_reading_order=True) for scene in split.scenes]


def scene_data(config: Config, model: one_to_many.Captioner, dry_run: bool):
    sizes = {
        "train": config.train_scenes,
        "val": config.val_scenes,
        "test": config.test_scenes,
        "holdout": config.holdout_scenes,
    }
    splits = scene_captions.load_fashion_scenes(sizes, config.seed, config.holdout_pairs, config.references)
    limit = 2 * config.batch_size if dry_run else None
    data = {}
    for offset, (name, split) in enumerate(splits.items()):
        targets = target_captions(split, config, seed=config.seed * 10 + offset)[:limit]
        data[name] = CaptionData(
            torch.from_numpy(split.images[:limit]),
            token_tensor(model, [[c.split() for c in captions] for captions in targets]),
            [tuple(captions) for captions in split.captions[:limit]],
            split.scenes[:limit],
        )
    card = scene_captions.dataset_card(sizes, config.seed, config.holdout_pairs, config.references)
    return data, card


def flickr_data(config: Config, dry_run: bool):
    from training.data.flickr8k import CAPTIONS_FILE, build_vocabulary, load_flickr8k

    if not config.data_dir:
        raise SystemExit("data=flickr8k needs --set data_dir=FOLDER (captions.txt and an Images/ folder)")
    splits = load_flickr8k(
        config.data_dir, config.model.image_size, config.val_fraction, config.test_fraction, config.seed
    )
    # What a validation score was measured on: the captions, the images found and how they were split.
    digest = hashlib.sha256((Path(config.data_dir).expanduser() / CAPTIONS_FILE).read_bytes())
    digest.update(
        repr(
            ([split.names for split in splits.values()], config.seed, config.val_fraction, config.test_fraction)
        ).encode()
    )
    vocabulary = SPECIAL_TOKENS + build_vocabulary(splits["train"].captions, config.min_word_count)
    longest = max(len(c) for split in splits.values() for per_image in split.captions for c in per_image)
    model_config = dataclasses.replace(
        config.model, vocabulary=vocabulary, max_length=min(config.model.max_length, longest)
    )
    model = one_to_many.build_model(model_config)
    limit = 2 * config.batch_size if dry_run else None
    data = {
        name: CaptionData(
            torch.from_numpy(split.images[:limit]),
            token_tensor(model, split.captions[:limit]),
            [tuple(" ".join(c) for c in per_image) for per_image in split.captions[:limit]],
            None,
        )
        for name, split in splits.items()
    }
    card = "\n".join(
        [
            "## Captioned photos in the Flickr8k layout (brought by the user)",
            "",
            f"- Folder: `{config.data_dir}` (`captions.txt` + images), split by image with seed {config.seed}: "
            + ", ".join(f"{name} {len(split.names)} images" for name, split in splits.items())
            + ".",
            f"- Vocabulary: {len(vocabulary)} tokens "
            f"(words seen ≥ {config.min_word_count} times in training captions).",
            f"- Images letterboxed to {config.model.image_size}×{config.model.image_size}.",
            "- Licence: that of the user's copy (Flickr8k itself is for research use only, per its authors).",
        ]
    )
    return model, data, card, f"flickr8k@{digest.hexdigest()[:12]}"


def prepare(config: Config, dry_run: bool = False) -> Task:
    if config.data != "scenes" and config.model.tagging_weight > 0:
        raise SystemExit("model.tagging_weight needs scene graphs for its labels: use it with data=scenes only")
    if config.data == "scenes":
        model = one_to_many.build_model(config.model)
        data, card = scene_data(config, model, dry_run)
        dataset, unused_settings = None, FLICKR_SETTINGS
    elif config.data == "flickr8k":
        model, data, card, dataset = flickr_data(config, dry_run)
        unused_settings = SCENE_SETTINGS
    else:
        raise SystemExit(f"data must be 'scenes' or 'flickr8k', not {config.data!r}")
    scenes = config.data == "scenes"

    def evaluate(model: torch.nn.Module, split: str) -> dict[str, float]:
        metrics = {
            "loss": teacher_forced_loss(model, data[split]),
            **caption_scores(model, data[split], config.test_beam_width),
        }
        if split == "test" and "holdout" in data:
            metrics.update(
                {f"holdout_{k}": v for k, v in caption_scores(model, data["holdout"], config.test_beam_width).items()}
            )
        return metrics

    def report(model: torch.nn.Module) -> dict[str, object]:
        split = data["test"]
        shown = min(24, len(split.images))
        hypotheses = decode(model, split.images[:shown], config.test_beam_width)
        examples = []
        for i, hypothesis in enumerate(hypotheses):
            caption = " ".join(hypothesis.words)
            example = {"index": i, "caption": caption, "references": list(split.references[i])}
            if split.scenes is not None:
                example["exact_scene_match"] = world.compare_scene(caption, split.scenes[i]).exact
            examples.append(example)
        return {"test_examples": {"examples": examples}}

    def extra_files(folder: Path) -> None:
        """Beside each best checkpoint: glyphs to draw new scenes, and the out-of-domain threshold measured
        with these very weights (scenes of the validation split against real photos)."""
        if not scenes:
            return
        glyphs, labels = scene_captions.glyph_sheet()
        np.savez_compressed(folder / GLYPHS_FILE, images=glyphs, labels=labels)
        write_out_of_domain(model, folder, data["val"].images.numpy()[:500], photos)

    photos = photo_images(config.model.image_size, crops_per_photo=1 if dry_run else 8) if scenes else None
    tagging = scenes and (config.pretrain_epochs > 0 or model.config.tagging_weight > 0)
    labelled = ("train", "val") if config.pretrain_epochs else ("train",)  # pretraining is scored on val
    cell_labels = (
        {split: cell_label_tensor(data[split].scenes, model.config.grid_side) for split in labelled} if tagging else {}
    )
    train = data["train"]
    train_tensors = {"images": train.images, "targets": train.tokens}
    if model.config.tagging_weight > 0:  # scenes only (refused above otherwise)
        train_tensors["cell_labels"] = cell_labels["train"]
    return Task(
        model=model,
        train_batches=TensorBatches(train_tensors, config.batch_size, shuffle=True, transform=pick_target),
        evaluate=evaluate,
        selection_metric="scene_match" if scenes else "bleu4",
        dataset_card=card,
        report=report,
        extra_files=extra_files,
        info={f"data.{name}_size": str(len(split.images)) for name, split in data.items()}
        | {"data.vocabulary_size": str(model.config.vocabulary_size)},
        model_config=model.config,
        pretraining=encoder_pretraining(model, data, cell_labels, config)
        if scenes and config.pretrain_epochs
        else None,
        dataset=dataset,
        unused_settings=unused_settings,
    )
