"""Many to many: a sequence in, a sequence of another length out (English → Spanish translation).

An encoder–decoder: a bidirectional GRU or LSTM reads the English subwords; a unidirectional one writes the Spanish
subwords, starting from a summary of the encoder's final states. With attention (Luong's "general" score), every
output step also looks back at all encoder states and mixes them by learned weights, which the decoder returns so
they can be drawn as a source × target heatmap.

The decoder RNN is not fed its previous attention output (no "input feeding"), so during training it runs over the
whole target sentence in one call and attention is one batched matrix product over all steps; on a CPU this is
several times faster than stepping a cell in Python.

The rule-based peer (Apertium) is in models.peers.
"""

from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer

from models.sequences import pad_sequences, reorder_steps, reverse_within_length

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")  # the first ids of both tokenizers, in this order
SOURCE_TOKENIZER_FILE = "source_tokenizer.json"
TARGET_TOKENIZER_FILE = "target_tokenizer.json"


@dataclass(frozen=True)
class Config:
    cell: str = "gru"  # "gru" | "lstm"
    attention: str = "luong"  # "luong" (multiplicative, general score) | "none"
    # One BPE tokenizer per language. Measured on the validation split (≤ 6 English words): 3,000 English + 4,000
    # Spanish subwords give 7.7 tokens a sentence on each side; one shared 6,000 vocabulary gives the same lengths
    # (7.6 / 7.7) and a shared 8,000 one 7.4, but either makes the output layer, the decoder's largest cost,
    # 1.5–2 times wider.
    source_vocab: int = 3000
    target_vocab: int = 4000
    # Sized for 15 minutes of training on 2 CPU threads: a 96/128/192 model was still under-fitting (validation loss
    # below training loss) when its time ran out, and this one is 4.5 BLEU better on test in the same time.
    embedding: int = 128  # also the size of the attentional vector, so the output layer can share the embedding
    encoder_hidden: int = 192  # per direction
    decoder_hidden: int = 256
    dropout: float = 0.2
    label_smoothing: float = 0.1
    # The longest English sentence trained on, in words: the page warns that a longer one is out of range.
    trained_source_words: int = 30
    # Output length bound: ratio × source tokens + extra, never above max_output_tokens.
    max_len_ratio: float = 2.0
    max_len_extra: int = 5
    max_output_tokens: int = 200
    # Weights are saved in half precision to halve the shipped bundles; training ends by loading its best state
    # through the same hook, so the test metrics are those of the rounded weights that ship.
    store_half: bool = True

    @property
    def arch(self) -> str:
        """The architecture's short name, which training.train also names a run by unless told otherwise."""
        return f"{self.cell}_attention" if self.attention != "none" else self.cell


CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class Encoder(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.source_vocab, config.embedding, padding_idx=PAD)
        cell = CELLS[config.cell]
        self.forward_rnn = cell(config.embedding, config.encoder_hidden, batch_first=True)
        self.backward_rnn = cell(config.embedding, config.encoder_hidden, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States (B, S, 2H) of every source token and the sentence summary (B, 2H): the forward direction's
        last state and the backward direction's state after reading back to the first token."""
        lengths = (source != PAD).sum(1).clamp(min=1)
        embedded = self.dropout(self.embed(source))  # (B, S, E)
        forward_states, _ = self.forward_rnn(embedded)  # (B, S, H)
        # The backward direction reads each sentence reversed within its length, so it never reads padding, which
        # nn.GRU(bidirectional=True) would do on right-padded batches unless they were packed (slow on a CPU).
        reverse = reverse_within_length(lengths, source.size(1))
        backward_states, _ = self.backward_rnn(reorder_steps(embedded, reverse))  # (B, S, H), reversed order
        last = (lengths - 1)[:, None, None].expand(-1, 1, forward_states.size(-1))  # (B, 1, H)
        summary = torch.cat([forward_states.gather(1, last), backward_states.gather(1, last)], -1).squeeze(1)
        states = torch.cat([forward_states, reorder_steps(backward_states, reverse)], -1)  # (B, S, 2H)
        return states, summary


class Seq2Seq(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {config.cell!r}")
        if config.attention not in ("luong", "none"):
            raise ValueError(f"attention must be 'luong' or 'none', not {config.attention!r}")
        self.config = config
        encoded = 2 * config.encoder_hidden
        self.encoder = Encoder(config)
        self.bridge = nn.Linear(encoded, config.decoder_hidden)
        self.target_embed = nn.Embedding(config.target_vocab, config.embedding, padding_idx=PAD)
        self.decoder_rnn = CELLS[config.cell](config.embedding, config.decoder_hidden, batch_first=True)
        self.uses_attention = config.attention == "luong"
        if self.uses_attention:
            self.attention_key = nn.Linear(encoded, config.decoder_hidden, bias=False)
            combined = config.decoder_hidden + encoded
        else:
            combined = config.decoder_hidden
        self.combine = nn.Linear(combined, config.embedding)
        self.output_bias = nn.Parameter(torch.zeros(config.target_vocab))
        # None: the output layer is the target embedding (tied). int8_for_cpu() sets an untied int8 copy here.
        self.output_layer: nn.Module | None = None
        self.dropout = nn.Dropout(config.dropout)
        if config.store_half:
            self._register_state_dict_hook(_half_floats)

    # -- pieces shared by training and decoding -------------------------------------------------------------
    def start(self, source: torch.Tensor):
        """Encode a batch (B, S): the memory the decoder attends to, and the decoder's initial state."""
        states, summary = self.encoder(source)
        memory = {"states": states, "mask": source != PAD}
        if self.uses_attention:
            memory["keys"] = self.attention_key(states)  # (B, S, Hd)
        hidden = torch.tanh(self.bridge(summary))[None]  # (1, B, Hd)
        state = (hidden, hidden.new_zeros(hidden.shape)) if self.config.cell == "lstm" else hidden
        return memory, state

    def attend(self, outputs: torch.Tensor, memory: dict[str, torch.Tensor]):
        """Attention weights (B, T, S) of each decoder output over the source, and the mixed states (B, T, 2H)."""
        scores = outputs @ memory["keys"].transpose(1, 2)  # (B, T, Hd) @ (B, Hd, S) -> (B, T, S)
        scores = scores.masked_fill(~memory["mask"][:, None, :], float("-inf"))
        weights = scores.softmax(-1)
        return weights, weights @ memory["states"]  # (B, T, S) @ (B, S, 2H) -> (B, T, 2H)

    def project(self, outputs: torch.Tensor, memory: dict[str, torch.Tensor]):
        """Vocabulary logits (B, T, V) and attention weights (B, T, S) or None, from decoder outputs (B, T, Hd)."""
        weights = None
        if self.uses_attention:
            weights, context = self.attend(outputs, memory)
            outputs = torch.cat([outputs, context], -1)  # (B, T, Hd + 2H)
        attentional = self.dropout(torch.tanh(self.combine(self.dropout(outputs))))  # (B, T, E)
        if self.output_layer is not None:
            return self.output_layer(attentional), weights
        # The output layer shares the target embedding: a word's output vector is its input vector.
        return F.linear(attentional, self.target_embed.weight, self.output_bias), weights  # (B, T, V)

    def forward(self, source: torch.Tensor, target: torch.Tensor):
        """Teacher forcing: ``target`` is [BOS] w1 … wn [EOS] padded; predicts w1 … [EOS] from [BOS] w1 … wn."""
        memory, state = self.start(source)
        inputs, labels = target[:, :-1], target[:, 1:]
        outputs, _ = self.decoder_rnn(self.dropout(self.target_embed(inputs)), state)  # (B, T, Hd)
        logits, _ = self.project(outputs, memory)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),  # (B, T, V) -> (B*T, V)
            labels.reshape(-1),
            ignore_index=PAD,
            label_smoothing=self.config.label_smoothing,
        )
        return logits, loss

    # -- decoding ---------------------------------------------------------------------------------------------
    def output_bounds(self, source: torch.Tensor) -> torch.Tensor:
        """The most tokens each sentence may get (B,), relative to its source length."""
        lengths = (source != PAD).sum(1).float()
        bound = (lengths * self.config.max_len_ratio).ceil().long() + self.config.max_len_extra
        return bound.clamp(min=1, max=self.config.max_output_tokens)

    def step(self, tokens: torch.Tensor, state, memory: dict[str, torch.Tensor]):
        """One decoder step for tokens (N,): logits (N, V), the new state, attention (N, S)."""
        outputs, state = self.decoder_rnn(self.target_embed(tokens)[:, None], state)  # (N, 1, Hd)
        logits, weights = self.project(outputs, memory)
        if weights is None:
            weights = memory["mask"].float() * 0  # no attention: an all-zero row keeps the shapes uniform
        else:
            weights = weights[:, 0]  # (N, 1, S) -> (N, S)
        return logits[:, 0], state, weights

    @torch.inference_mode()
    def greedy(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        """Greedy decoding of a batch (B, S): ``tokens`` (B, T) without [BOS], [PAD] after [EOS]; ``attention``
        (B, T, S); ``finished`` (B,) False where the length bound stopped a sentence before its [EOS].

        Sentences that are done leave the batch, so the steps after them cost only what is still running."""
        memory, state = self.start(source)
        batch, bounds = source.size(0), self.output_bounds(source)
        active = torch.arange(batch)  # rows of the batch still being decoded
        tokens = source.new_full((batch,), BOS)
        outputs, attention = [], []
        for step in range(int(bounds.max())):
            logits, state, weights = self.step(tokens, state, memory)
            tokens = logits.argmax(-1)
            emitted = source.new_zeros(batch)  # PAD for the rows already done
            emitted[active] = tokens
            seen = weights.new_zeros(batch, source.size(1))
            seen[active] = weights
            outputs.append(emitted)
            attention.append(seen)
            running = (tokens != EOS) & (bounds[active] > step + 1)
            if not bool(running.any()):
                break
            if not bool(running.all()):
                active, tokens = active[running], tokens[running]
                memory = {name: value[running] for name, value in memory.items()}
                state = tuple(s[:, running] for s in state) if isinstance(state, tuple) else state[:, running]
        tokens = torch.stack(outputs, 1)  # (B, T)
        return {"tokens": tokens, "attention": torch.stack(attention, 1), "finished": (tokens == EOS).any(1)}

    @torch.inference_mode()
    def beam_search(self, source: torch.Tensor, beam_width: int = 5, length_penalty: float = 1.0) -> dict:
        """Batched beam search over a batch (B, S), K = ``beam_width`` hypotheses per sentence, best first.

        Hypotheses are ranked by total log-probability divided by length ** ``length_penalty`` (0 ranks by raw
        log-probability, which favours short outputs). A finished hypothesis keeps its slot and its score; a
        sentence whose K hypotheses are all finished leaves the batch.
        Returns ``tokens`` (B, K, T), ``scores`` (B, K), ``attention`` (B, K, T, S), ``finished`` (B, K)."""
        batch, k = source.size(0), beam_width
        memory, state = self.start(source)
        memory = {name: value.repeat_interleave(k, 0) for name, value in memory.items()}  # (B*K, …)
        state = (
            tuple(s.repeat_interleave(k, 1) for s in state)
            if isinstance(state, tuple)
            else state.repeat_interleave(k, 1)
        )  # (1, B*K, Hd)
        bounds = self.output_bounds(source).repeat_interleave(k)  # (B*K,)
        max_steps = int(bounds.max())
        sequences = source.new_zeros((batch * k, max_steps))  # every hypothesis, written as it grows
        attention = memory["states"].new_zeros((batch * k, max_steps, source.size(1)))
        final_scores = torch.zeros((batch, k))
        final_lengths = torch.ones(batch * k, dtype=torch.long)
        rows = torch.arange(batch * k)  # the hypotheses of the sentences still in the batch
        scores = torch.full((batch, k), float("-inf"))
        scores[:, 0] = 0.0  # all beams start identical: expand only the first
        tokens = source.new_full((batch * k,), BOS)
        done = torch.zeros_like(tokens, dtype=torch.bool)
        lengths = torch.zeros_like(tokens)
        for step in range(max_steps):
            logits, state, weights = self.step(tokens, state, memory)  # (N*K, V)
            log_probs = logits.log_softmax(-1)
            sentences, vocab = scores.size(0), log_probs.size(-1)
            # A finished hypothesis may only continue with [PAD], at no cost, so it survives unchanged.
            log_probs.masked_fill_(done[:, None], float("-inf"))
            log_probs[:, PAD].masked_fill_(done, 0.0)
            candidates = (scores.reshape(-1, 1) + log_probs).view(sentences, k * vocab)  # (N*K, V) -> (N, K*V)
            scores, best = candidates.topk(k, dim=1)  # (N, K)
            origin = (best // vocab + torch.arange(sentences)[:, None] * k).view(-1)  # (N*K,) the beam extended
            tokens = (best % vocab).view(-1)
            state = tuple(s[:, origin] for s in state) if isinstance(state, tuple) else state[:, origin]
            done, lengths = done[origin], lengths[origin] + (~done[origin]).long()
            sequences[rows] = sequences[rows[origin]]
            attention[rows] = attention[rows[origin]]
            sequences[rows, step] = tokens
            attention[rows, step] = weights[origin]
            done = done | (tokens == EOS) | (bounds[rows] <= step + 1)
            steps = step + 1
            complete = done.view(sentences, k).all(1)  # (N,)
            if bool(complete.any()):
                leaving = rows.view(sentences, k)[complete]  # (n, K)
                final_scores[leaving[:, 0] // k] = scores[complete]
                final_lengths[leaving.reshape(-1)] = lengths.view(sentences, k)[complete].reshape(-1)
                if bool(complete.all()):
                    break
                keep, keep_rows = ~complete, (~complete).repeat_interleave(k)
                rows, tokens, done, lengths = rows[keep_rows], tokens[keep_rows], done[keep_rows], lengths[keep_rows]
                scores = scores[keep]
                memory = {name: value[keep_rows] for name, value in memory.items()}
                state = tuple(s[:, keep_rows] for s in state) if isinstance(state, tuple) else state[:, keep_rows]
        normalised = final_scores / final_lengths.view(batch, k).clamp(min=1).float() ** length_penalty  # (B, K)
        order = normalised.argsort(1, descending=True)
        pick = (order + torch.arange(batch)[:, None] * k).view(-1)
        sequences = sequences[pick, :steps].view(batch, k, steps)  # (B*K, T) -> (B, K, T)
        return {
            "tokens": sequences,
            "scores": normalised.gather(1, order),
            "attention": attention[pick, :steps].view(batch, k, steps, -1),  # (B*K, T, S) -> (B, K, T, S)
            "finished": (sequences == EOS).any(-1),
        }


def _half_floats(module, state_dict, prefix, local_metadata):
    """state_dict hook: float weights as float16 (loading casts them back to float32)."""
    for name, value in state_dict.items():
        if value.is_floating_point():
            state_dict[name] = value.half()
    return state_dict


def build_model(config: Config) -> Seq2Seq:
    return Seq2Seq(config)


def int8_for_cpu(model: Seq2Seq) -> Seq2Seq:
    """A copy for decoding on a CPU, with int8 weights (dynamic quantisation) in the recurrent cells and every
    linear layer, the output layer included.

    Decoding is bound by the decoder cell and the output layer's matrix products. Measured on the new-sentences test
    set (2 threads, batches of 500): 1.9 times the sentences per second of float32, BLEU and chrF within ±0.1."""
    quantisable = copy.deepcopy(model).eval()
    output = nn.Linear(model.config.embedding, model.config.target_vocab)
    output.weight, output.bias = (
        nn.Parameter(model.target_embed.weight.detach().clone()),
        nn.Parameter(model.output_bias.detach().clone()),
    )
    quantisable.output_layer = output
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it will move to torchao, which is not a dependency of this project.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(quantisable, {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8)


# -- text in, text out ------------------------------------------------------------------------------------------
# Source-length buckets (English words, inclusive) that scores are reported by: short sentences are most of
# Tatoeba, so an overall score hides how a translator does on the longer ones users type.
LENGTH_BUCKETS = {"len_1_6": (1, 6), "len_7_10": (7, 10), "len_11_20": (11, 20), "len_21_up": (21, None)}


def length_bucket(words: int) -> str:
    return next(name for name, (_, high) in LENGTH_BUCKETS.items() if high is None or words <= high)


def length_cells(metrics: dict[str, float], split: str, shown: tuple[str, ...], suffix: str = "") -> dict[str, str]:
    """A logged run's scores on a test split, overall (key "all") and per length bucket, as table cells: the
    ``shown`` metrics joined by " / ", a bucket's sentence count after them, "—" where one is missing."""
    cells = {}
    for bucket in ("all", *LENGTH_BUCKETS):
        prefix = f"{split}_" if bucket == "all" else f"{split}_{bucket}_"
        values = [metrics.get(f"{prefix}{metric}{suffix}") for metric in shown]
        count = metrics.get(f"{prefix}sentences")
        cells[bucket] = (
            "—"
            if None in values
            else " / ".join(f"{value:.1f}" for value in values) + (f" ({count:.0f})" if count is not None else "")
        )
    return cells


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph: cut after . ! ? or … followed by white space; blank pieces dropped."""
    return [piece.strip() for line in text.splitlines() for piece in _SENTENCE_END.split(line) if piece.strip()]


@dataclass
class Translation:
    source: str
    text: str  # the best hypothesis, detokenised
    finished: bool  # False when the length bound cut it before [EOS]
    source_tokens: list[str]  # subwords the encoder read, ending with [EOS]
    target_tokens: list[str]  # subwords the decoder wrote, ending with [EOS] when finished
    attention: torch.Tensor  # (target tokens, source tokens)
    n_best: list[tuple[str, float]] = field(default_factory=list)  # (text, length-normalised log-probability)
    unknown_source_tokens: int = 0  # characters the English tokenizer has never seen ([UNK])


class Translator:
    """A model with its two tokenizers: sentences in, translations (with n-best and attention) out."""

    def __init__(self, model: Seq2Seq, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer):
        self.model, self.source_tokenizer, self.target_tokenizer = model.eval(), source_tokenizer, target_tokenizer
        # Subword strings by id, read once instead of one tokenizer call per token of every translation.
        self.source_vocabulary = [source_tokenizer.id_to_token(i) for i in range(source_tokenizer.get_vocab_size())]
        self.target_vocabulary = [target_tokenizer.id_to_token(i) for i in range(target_tokenizer.get_vocab_size())]

    @classmethod
    def from_checkpoint(cls, checkpoint, int8: bool = True) -> "Translator":
        """From a models.checkpoint.Checkpoint of this topology (tokenizers saved beside the weights), decoding
        with int8 weights (``int8_for_cpu``) unless ``int8`` is False. The scores logged for a run are those of
        its float32 weights; the bench prints both."""
        model = int8_for_cpu(checkpoint.model) if int8 else checkpoint.model
        return cls(
            model,
            Tokenizer.from_file(str(checkpoint.file(SOURCE_TOKENIZER_FILE))),
            Tokenizer.from_file(str(checkpoint.file(TARGET_TOKENIZER_FILE))),
        )

    def encode_sources(self, sentences: list[str]) -> list[list[int]]:
        """Source ids ending in [EOS], which gives attention a place to look when the sentence is over."""
        return [encoding.ids + [EOS] for encoding in self.source_tokenizer.encode_batch(list(sentences))]

    @staticmethod
    def _target_ids(ids: list[int]) -> list[int]:
        return ids[: ids.index(EOS) + 1] if EOS in ids else [i for i in ids if i != PAD]

    def _text(self, ids: list[int]) -> str:
        return self.target_tokenizer.decode([i for i in ids if i >= len(SPECIAL_TOKENS)])

    def translate(
        self, sentences: list[str], beam_width: int = 1, length_penalty: float = 1.0, batch_size: int = 256
    ) -> list[Translation]:
        """Translate a list of sentences in batches: greedy when ``beam_width`` is 1, beam search otherwise."""
        sources = self.encode_sources(sentences)
        # Sentences of similar length share a batch, so little compute goes to padding; the order is restored.
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        results: list[Translation | None] = [None] * len(sources)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            source = pad_sequences([sources[i] for i in chunk], PAD)
            if beam_width <= 1:
                decoded = self.model.greedy(source)
                tokens, attention = decoded["tokens"][:, None], decoded["attention"][:, None]  # add a K=1 axis
                scores = torch.full(tokens.shape[:2], float("nan"))
            else:
                decoded = self.model.beam_search(source, beam_width, length_penalty)
                tokens, attention, scores = decoded["tokens"], decoded["attention"], decoded["scores"]
            # Whole batches to Python lists at once: indexing tensors row by row was a tenth of the time.
            for row, (i, rows, row_scores) in enumerate(zip(chunk, tokens.tolist(), scores.tolist())):
                results[i] = self._translation(sentences[i], sources[i], rows, attention[row], row_scores)
        return results

    def _translation(
        self,
        sentence: str,
        source_ids: list[int],
        tokens: list[list[int]],
        attention: torch.Tensor,
        scores: list[float],
    ) -> Translation:
        """One sentence's result from its K hypotheses (K, T), attention (K, T, S) and scores (K,)."""
        hypotheses = [self._target_ids(row) for row in tokens]
        texts = [self._text(ids) for ids in hypotheses]
        best = hypotheses[0]
        return Translation(
            source=sentence,
            text=texts[0],
            finished=bool(best) and best[-1] == EOS,
            source_tokens=[self.source_vocabulary[i] for i in source_ids],
            target_tokens=[self.target_vocabulary[i] for i in best],
            attention=attention[0, : len(best), : len(source_ids)],
            n_best=list(zip(texts, scores)),
            unknown_source_tokens=source_ids.count(UNK),
        )
