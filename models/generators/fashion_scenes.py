"""The world of the one-to-many task: "fashion scenes" of 1–3 coloured Fashion-MNIST garments, the grammar that
describes a scene in words, and the parser that reads a caption back into a scene graph.

Everything here is pure (numpy + PIL, no torch and no data download) so that both the training task and the
dashboard page can draw, describe and check scenes. Glyphs (28×28 uint8 garment images) are passed in by the
caller: the task takes them from Fashion-MNIST, the page from the small glyph sheet shipped beside a checkpoint.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

SCENE_SIZE = 64
GLYPH_SIDE = 28
SIZES = {"small": 18, "large": 28}  # side in pixels of the garment's 28×28 glyph, resized
COLOURS = {
    "red": (225, 45, 45),
    "orange": (245, 145, 30),
    "yellow": (240, 225, 50),
    "green": (45, 180, 70),
    "blue": (55, 95, 235),
    "purple": (155, 70, 205),
    "pink": (250, 135, 205),
    "white": (240, 240, 240),
}
# Caption words of the ten Fashion-MNIST classes, in label order.
GARMENT_WORDS = ("t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
# Pullover, coat and shirt are left out of scenes by default: at 28×28 even strong classifiers confuse them with
# each other and with t-shirts about one time in five, so they would measure Fashion-MNIST's label ambiguity
# rather than captioning. The remaining seven are told apart by a good CNN ~97% of the time.
SCENE_GARMENTS = ("t-shirt", "trousers", "dress", "sandal", "sneaker", "bag", "ankle boot")
RELATION_WORDS = {  # relation -> its phrasings; the first is the canonical one
    "left": ("to the left of", "left of"),
    "right": ("to the right of", "right of"),
    "above": ("above", "over"),
    "below": ("below", "under"),
}
INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
MAX_OVERLAP = 0.2  # of the smaller box's area
MIN_AXIS_RATIO = 2.0  # a pair's main axis offset is at least this times the other, so "left of" is never unclear
MIN_OFFSET = 8  # pixels between two centres along the main axis


def scene_vocabulary() -> tuple[str, ...]:
    """Every word the grammar can produce, after the special tokens: the whole caption vocabulary."""
    words = ["there", "is", "a", "one", "the", "and", *SIZES, *COLOURS]
    for garment in GARMENT_WORDS:
        words += garment.split()
    for phrasings in RELATION_WORDS.values():
        for phrase in phrasings:
            words += phrase.split()
    return SPECIAL_TOKENS + tuple(dict.fromkeys(words))


@dataclass(frozen=True)
class SceneObject:
    garment: str
    colour: str
    size: str
    x: int  # top-left corner of the glyph's box, pixels
    y: int
    glyph: int  # index into the glyph bank the scene is rendered from

    @property
    def side(self) -> int:
        return SIZES[self.size]

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.side / 2, self.y + self.side / 2

    @property
    def attributes(self) -> tuple[str, str, str]:
        return self.garment, self.colour, self.size


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: tuple[int, int, int]  # base colour of the plain or textured background
    texture_seed: int  # 0 means a plain background


def relation(a: SceneObject, b: SceneObject) -> str:
    """Where ``a`` is relative to ``b``, along the axis on which their centres differ most (image y grows down)."""
    dx, dy = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "above" if dy < 0 else "below"


def _overlap(a: SceneObject, b: SceneObject) -> float:
    width = min(a.x + a.side, b.x + b.side) - max(a.x, b.x)
    height = min(a.y + a.side, b.y + b.side) - max(a.y, b.y)
    return max(width, 0) * max(height, 0) / min(a.side, b.side) ** 2


def layout_problem(objects: list[SceneObject] | tuple[SceneObject, ...]) -> str | None:
    """Why a layout is not a valid scene (heavy overlap, an unclear relation, outside the image), or None."""
    for item in objects:
        if not (0 <= item.x <= SCENE_SIZE - item.side and 0 <= item.y <= SCENE_SIZE - item.side):
            return f"the {item.garment} does not fit inside the image"
    for a, b in itertools.combinations(objects, 2):
        if a.garment == b.garment:
            return f"two {a.garment}s: each garment may appear once"
        if _overlap(a, b) > MAX_OVERLAP:
            return f"the {a.garment} and the {b.garment} overlap too much"
        offsets = sorted((abs(a.centre[0] - b.centre[0]), abs(a.centre[1] - b.centre[1])))
        if offsets[1] < MIN_OFFSET or offsets[1] < MIN_AXIS_RATIO * offsets[0]:
            return f"the {a.garment} and the {b.garment} are neither clearly side by side nor one above the other"
    return None


def sample_scenes(
    rng: np.random.Generator,
    glyph_labels: np.ndarray,
    count: int,
    garments: tuple[str, ...] = SCENE_GARMENTS,
    colours: tuple[str, ...] = tuple(COLOURS),
    max_objects: int = 3,
    forbidden: frozenset[tuple[str, str]] = frozenset(),
    required: frozenset[tuple[str, str]] = frozenset(),
) -> list[Scene]:
    """``count`` random valid scenes. ``glyph_labels`` are the Fashion-MNIST labels of the glyph bank;
    ``forbidden`` (garment, colour) pairs never occur; when ``required`` is given, at least one of its pairs
    occurs in every scene."""
    by_class = {garment: np.flatnonzero(glyph_labels == GARMENT_WORDS.index(garment)) for garment in garments}
    return [_sample_one(rng, by_class, garments, colours, max_objects, forbidden, required) for _ in range(count)]


def sample_scene(rng: np.random.Generator, glyph_labels: np.ndarray, **options) -> Scene:
    """One random valid scene (see sample_scenes for the options)."""
    return sample_scenes(rng, glyph_labels, 1, **options)[0]


def _sample_one(rng, by_class, garments, colours, max_objects, forbidden, required) -> Scene:
    while True:
        n_objects = int(rng.integers(1, max_objects + 1))
        chosen = list(rng.choice(len(garments), size=n_objects, replace=False))
        pairs = []
        for index in chosen:
            allowed = [c for c in colours if (garments[index], c) not in forbidden]
            pairs.append((garments[index], allowed[int(rng.integers(len(allowed)))]))
        if required:
            options = sorted(required)
            pairs[0] = options[int(rng.integers(len(options)))]
            if len({garment for garment, _ in pairs}) < len(pairs):
                continue
        objects = _place(rng, pairs, by_class)
        if objects is not None:
            break
    texture_seed = int(rng.integers(1, 2**31)) if rng.random() < 0.5 else 0
    background = tuple(int(v) for v in rng.integers(0, 50, size=3))
    return Scene(tuple(objects), background, texture_seed)


def _place(rng, pairs, by_class, tries: int = 100) -> list[SceneObject] | None:
    placed: list[SceneObject] = []
    for garment, colour in pairs:
        size = tuple(SIZES)[int(rng.integers(len(SIZES)))]
        glyph = int(rng.choice(by_class[garment]))
        for _ in range(tries):
            x, y = (int(v) for v in rng.integers(0, SCENE_SIZE - SIZES[size] + 1, size=2))
            candidate = SceneObject(garment, colour, size, x, y, glyph)
            if layout_problem(placed + [candidate]) is None:
                placed.append(candidate)
                break
        else:
            return None
    return placed


def render_scene(scene: Scene, glyphs: np.ndarray) -> np.ndarray:
    """The scene as a (S, S, 3) uint8 image: each glyph's intensity mixes its colour over the background."""
    canvas = np.empty((SCENE_SIZE, SCENE_SIZE, 3), dtype=np.float32)
    canvas[:] = scene.background
    if scene.texture_seed:
        # Low-frequency noise: a coarse random grid upsampled smoothly, a few grey levels deep.
        coarse = np.random.default_rng(scene.texture_seed).normal(0, 1, (8, 8)).astype(np.float32)
        smooth = np.asarray(Image.fromarray(coarse, mode="F").resize((SCENE_SIZE, SCENE_SIZE), Image.BICUBIC))
        canvas += 12 * smooth[..., None]
    for item in scene.objects:
        glyph = glyphs[item.glyph]
        if item.side != GLYPH_SIDE:
            glyph = np.asarray(Image.fromarray(glyph).resize((item.side, item.side), Image.BILINEAR))
        alpha = glyph.astype(np.float32)[..., None] / 255  # (s, s) -> (s, s, 1)
        window = canvas[item.y : item.y + item.side, item.x : item.x + item.side]
        window[:] = window * (1 - alpha) + np.asarray(COLOURS[item.colour], np.float32) * alpha
    return np.clip(canvas, 0, 255).round().astype(np.uint8)


def cell_labels(scene: Scene, grid_side: int) -> np.ndarray:
    """What lies at each cell of a ``grid_side``² grid over the scene, as (3, grid_side²) int64 rows: garment
    (index in GARMENT_WORDS plus one, 0 for none), colour and size (indices in COLOURS and SIZES, -1 for none).
    A garment owns the cells whose centre lies within 5/8 of a cell of its own centre (one to four cells, so the
    label does not hinge on which side of a cell border the centre falls), the nearest garment winning."""
    cell = SCENE_SIZE / grid_side
    centres = (np.arange(grid_side) + 0.5) * cell
    labels = np.full((3, grid_side, grid_side), -1, dtype=np.int64)
    labels[0] = 0
    nearest = np.full((grid_side, grid_side), np.inf)
    for item in scene.objects:
        x, y = item.centre
        distance = np.maximum(np.abs(centres - x)[None, :], np.abs(centres - y)[:, None])  # (rows y, columns x)
        owned = (distance <= 5 / 8 * cell) & (distance < nearest)
        nearest[owned] = distance[owned]
        labels[:, owned] = np.array(
            [GARMENT_WORDS.index(item.garment) + 1, tuple(COLOURS).index(item.colour), tuple(SIZES).index(item.size)]
        )[:, None]
    return labels.reshape(3, -1)  # (3, G, G) -> (3, G*G), row-major like the encoder's flattened grid


# ---- grammar: a scene in words -------------------------------------------------------------------------------


def _new_mention(item: SceneObject) -> str:
    return f"a {item.size} {item.colour} {item.garment}"


def _references(item: SceneObject) -> tuple[str, ...]:
    """Ways to mention an object a second time."""
    return f"the {item.garment}", f"the {item.colour} {item.garment}"


def reading_order(objects: tuple[SceneObject, ...]) -> tuple[SceneObject, ...]:
    """The objects sorted by x + y of their centres: of every valid pair, the one to the left or above comes first
    (its lead on the main axis is at least twice the other axis's offset, so x + y differs by at least half of
    it, ≥ MIN_OFFSET / 2 px). So the order is total, and in it every relation is "left" or "above"."""
    return tuple(sorted(objects, key=lambda item: sum(item.centre)))


def caption_variants(scene: Scene, in_reading_order: bool = False) -> list[str]:
    """Every caption the grammar gives the scene: true, complete (each object with its colour and size, the
    objects joined by true relations) and varied in order, relation words, articles and opening. With
    ``in_reading_order`` only those that name the objects in reading order (wording still varies)."""
    objects = scene.objects
    orders = [reading_order(objects)] if in_reading_order else list(itertools.permutations(objects))
    clauses: list[str] = []
    if len(objects) == 1:
        item = objects[0]
        clauses = [_new_mention(item), f"one {item.size} {item.colour} {item.garment}"]
    elif len(objects) == 2:
        for a, b in orders:
            clauses += [f"{_new_mention(a)} {words} {_new_mention(b)}" for words in RELATION_WORDS[relation(a, b)]]
    else:
        # A hub object related to the two others: "P rel Q and R rel the Q" or "... and the Q rel R".
        for p, q, r in orders:
            for words_pq in RELATION_WORDS[relation(p, q)]:
                first = f"{_new_mention(p)} {words_pq} {_new_mention(q)}"
                for reference in _references(q):
                    clauses.append(f"{first} and {_new_mention(r)} {RELATION_WORDS[relation(r, q)][0]} {reference}")
                    clauses.append(f"{first} and {reference} {RELATION_WORDS[relation(q, r)][0]} {_new_mention(r)}")
    return [opening + clause for clause in clauses for opening in ("", "there is ")]


def sample_captions(scene: Scene, rng: np.random.Generator, k: int, in_reading_order: bool = False) -> list[str]:
    """``k`` distinct references for one scene, like COCO's several captions per image."""
    variants = caption_variants(scene, in_reading_order)
    chosen = rng.choice(len(variants), size=min(k, len(variants)), replace=False)
    return [variants[i] for i in sorted(chosen)]


# ---- parser: words back to a scene graph ----------------------------------------------------------------------


class CaptionParseError(ValueError):
    """A caption that the scene grammar cannot read; the message says where."""


@dataclass(frozen=True)
class ParsedScene:
    objects: tuple[tuple[str, str | None, str | None], ...]  # (garment, colour, size) in order of mention
    relations: tuple[tuple[int, str, int], ...]  # (object index, relation, object index)


_RELATION_PHRASES = sorted(
    ((tuple(phrase.split()), name) for name, phrases in RELATION_WORDS.items() for phrase in phrases),
    key=lambda item: -len(item[0]),
)
_GARMENT_PHRASES = sorted((tuple(g.split()) for g in GARMENT_WORDS), key=len, reverse=True)


class _Reader:
    def __init__(self, words: list[str]):
        self.words, self.at = words, 0

    def peek(self, phrase: tuple[str, ...]) -> bool:
        return tuple(self.words[self.at : self.at + len(phrase)]) == phrase

    def take(self, phrase: tuple[str, ...]) -> bool:
        if self.peek(phrase):
            self.at += len(phrase)
            return True
        return False

    def fail(self, expected: str) -> CaptionParseError:
        found = " ".join(self.words[self.at : self.at + 3]) or "the end"
        return CaptionParseError(f"expected {expected} at word {self.at + 1}, found {found!r}")


def parse_caption(caption: str) -> ParsedScene:
    """Read a caption of the scene grammar into objects and relations; raises CaptionParseError."""
    reader = _Reader(caption.lower().replace(".", " ").split())
    objects: list[tuple[str, str | None, str | None]] = []
    relations: list[tuple[int, str, int]] = []
    reader.take(("there", "is"))
    while True:
        subject = _mention(reader, objects)
        for phrase, name in _RELATION_PHRASES:
            if reader.take(phrase):
                relations.append((subject, name, _mention(reader, objects)))
                break
        if reader.at == len(reader.words):
            return ParsedScene(tuple(objects), tuple(relations))
        if not reader.take(("and",)):
            raise reader.fail("'and', a relation or the end")


def _mention(reader: _Reader, objects: list) -> int:
    """One noun phrase; returns the index of the object it introduces or refers to."""
    definite = reader.take(("the",))
    if not definite and not (reader.take(("a",)) or reader.take(("one",))):
        raise reader.fail("'a', 'one' or 'the'")
    size = next((s for s in SIZES if reader.take((s,))), None)
    colour = next((c for c in COLOURS if reader.take((c,))), None)
    garment = next((" ".join(g) for g in _GARMENT_PHRASES if reader.take(g)), None)
    if garment is None:
        raise reader.fail("a garment")
    if definite:
        for index, (known, known_colour, known_size) in enumerate(objects):
            if known == garment:
                if (colour and colour != known_colour) or (size and size != known_size):
                    raise CaptionParseError(f"'the {garment}' contradicts how it was first described")
                return index
    objects.append((garment, colour, size))
    return len(objects) - 1


# ---- meaning: a parsed caption against the true scene ---------------------------------------------------------


@dataclass(frozen=True)
class SceneComparison:
    parsed: bool
    true_objects: int
    mentioned_objects: int
    matched_objects: int  # mentioned objects whose garment is in the scene (each true object matched once)
    colours_right: int
    sizes_right: int
    relations_stated: int
    relations_right: int
    exact: bool  # every object with its colour and size, nothing extra, relations true and joining them all


def compare_scene(caption: str, scene: Scene) -> SceneComparison:
    """How well a caption describes the scene: parsed back into a graph, then matched object by object."""
    try:
        parsed = parse_caption(caption)
    except CaptionParseError:
        return SceneComparison(False, len(scene.objects), 0, 0, 0, 0, 0, 0, False)
    truth = {item.garment: item for item in scene.objects}
    matched: dict[int, SceneObject] = {}
    for index, (garment, _, _) in enumerate(parsed.objects):
        if garment in truth and truth[garment] not in matched.values():
            matched[index] = truth[garment]
    colours = sum(parsed.objects[i][1] == item.colour for i, item in matched.items())
    sizes = sum(parsed.objects[i][2] == item.size for i, item in matched.items())
    right = sum(
        a in matched and b in matched and relation(matched[a], matched[b]) == name for a, name, b in parsed.relations
    )
    exact = (
        Counter(parsed.objects) == Counter(item.attributes for item in scene.objects)
        and right == len(parsed.relations)
        and _connected(len(parsed.objects), parsed.relations)
    )
    return SceneComparison(
        True, len(scene.objects), len(parsed.objects), len(matched), colours, sizes, len(parsed.relations), right, exact
    )


def _connected(n_objects: int, relations) -> bool:
    """Whether the stated relations join all objects into one graph (so the caption places every object)."""
    group = list(range(n_objects))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for a, _, b in relations:
        group[root(a)] = root(b)
    return len({root(i) for i in range(n_objects)}) <= 1


def scene_scores(comparisons: list[SceneComparison]) -> dict[str, float]:
    """Corpus-level meaning scores: exact scene match, object F1 (by garment), colour / size accuracy of the
    matched objects, accuracy of the stated relations, and how many captions parse at all."""
    total = lambda field: sum(getattr(c, field) for c in comparisons)  # noqa: E731
    matched, mentioned, true = total("matched_objects"), total("mentioned_objects"), total("true_objects")
    precision = matched / mentioned if mentioned else 0.0
    recall = matched / true if true else 0.0
    n = max(len(comparisons), 1)
    return {
        "scene_match": total("exact") / n,
        "object_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "colour_accuracy": total("colours_right") / max(matched, 1),
        "size_accuracy": total("sizes_right") / max(matched, 1),
        "attribute_accuracy": (total("colours_right") + total("sizes_right")) / max(2 * matched, 1),
        "relation_accuracy": total("relations_right") / max(total("relations_stated"), 1),
        "parse_rate": total("parsed") / n,
    }
