"""Many to many: translate English to Spanish with an encoder–decoder, beside Apertium (rule-based)."""

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components import memory_view
from dashboard.components.run_comparison import NOT_APPLICABLE
from dashboard.components.runs import checkpoint_pipeline, pick_model, run_catalogue
from dashboard.components.text_input import text_entry
from dashboard.components.topologies import topology_page
from dashboard.components.user_text import code, literal, pick_text, text_table
from models.many_to_many import LENGTH_BUCKETS, Translator, length_cells, split_sentences
from models.peers import ApertiumPeer, ApertiumUnavailable

MAX_CHARACTERS = 30_000  # longer text is cut (with a note): translation time grows with it
MAX_SENTENCES = 200
CHUNK_SENTENCES = 25  # translated per step of the progress bar
WRAPPED_SENTENCES = 20  # translations shown whole in a table up to this many; a scrolling grid past it
DETAILED_SENTENCES = 20  # sentences that get an n-best list and a heatmap; more would bury the page
EXAMPLES = (
    "Where is the train station?",
    "I'm hungry. Let's eat something.",
    "Tom doesn't like to swim in the sea.",
    "We are going to the beach tomorrow. Do you want to come?",
    "My father bought me a new bicycle for my birthday last year.",
    "I have been living in this city for almost ten years.",
)
EXAMPLE_KEY, TEXT_KEY = "many_to_many-example", "many_to_many-text"
TEST_SETS = {"new_test": "new sentences", "test": "random split"}
HEADLINE_METRICS = tuple(
    f"{split}_{metric}" for split in TEST_SETS for metric in ("bleu_single", "bleu", "chrf", "bleu_beam5", "chrf_beam5")
)


def use_example() -> None:
    """The picked example replaces the text: a text box keeps its own value once typed in, so it is set here."""
    st.session_state[TEXT_KEY] = st.session_state[EXAMPLE_KEY]


@st.cache_data(show_spinner=False, max_entries=64)
def apertium(sentences: tuple[str, ...]) -> list[str] | str:
    """Apertium's translations, or why there are none."""
    try:
        return ApertiumPeer.translate(list(sentences), timeout=30)
    except ApertiumUnavailable as error:
        return str(error)


def attention_figure(source_tokens: list[str], target_tokens: list[str], weights) -> go.Figure:
    # Tokens repeat ("▁the" twice): plotly merges equal category labels, so each gets its position appended.
    columns = [f"{token} ·{i}" for i, token in enumerate(source_tokens)]
    rows = [f"{token} ·{i}" for i, token in enumerate(target_tokens)]
    figure = go.Figure(
        go.Heatmap(
            z=weights.tolist(),
            x=columns,
            y=rows,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="%{y} ← %{x}<br>weight %{z:.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(220, 22 * len(rows) + 90),
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(title="English subwords (encoder)", tickangle=-45),
        yaxis=dict(title="Spanish subwords (decoder)", autorange="reversed"),
    )
    return figure


def bucket_label(name: str) -> str:
    if name == "all":
        return name
    low, high = LENGTH_BUCKETS[name]
    return f"{low}–{high} words" if high else f"{low}+ words"


def length_comparison() -> None:
    """Every run's greedy scores per English length bucket, on both test sets: the overall score hides the long
    sentences, which are few in Tatoeba and many in what people type."""
    st.subheader("By sentence length")
    rows = []
    for run in run_catalogue("many_to_many").runs:
        for split, label in TEST_SETS.items():
            if f"{split}_chrf" not in run.metrics:
                continue
            cells = length_cells(run.metrics, split, ("bleu_single", "chrf"))
            rows.append(
                {
                    "run": run.run_name,
                    "test set": label,
                    **{bucket_label(bucket): cell for bucket, cell in cells.items()},
                }
            )
    if not rows:
        st.caption("No run has per-length scores yet.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", placeholder=NOT_APPLICABLE)
    st.caption(
        "Greedy decoding; each cell is single-reference BLEU / chrF (sentences). *New sentences* are the "
        "newest 3 % of Tatoeba's English sentences by id, never trained on: the closest thing here to what "
        "people type. Runs logged before length buckets existed show only their overall scores."
    )


demo, memory = topology_page("many_to_many", length_comparison, HEADLINE_METRICS)
with demo:
    checkpoint, run = pick_model("many_to_many")
    translator = checkpoint_pipeline(Translator.from_checkpoint, checkpoint)
    uses_attention = checkpoint.config.attention != "none"

    trained_words = checkpoint.config.trained_source_words
    st.subheader("Input")
    st.selectbox("Start from an example", EXAMPLES, key=EXAMPLE_KEY, on_change=use_example)
    st.session_state.setdefault(TEXT_KEY, EXAMPLES[0])
    text = text_entry(
        "English text: one or more sentences",
        key=TEXT_KEY,
        action="Translate",
        height=100,
        empty_hint="Type an English sentence (or pick an example), then press Translate.",
    )
    st.caption(
        f"Model {code(run.run_name)} was trained on English sentences of 1 to {trained_words} words; a paragraph "
        "is split into sentences and each is translated on its own."
    )
    beam = st.slider("Beam width (1 = greedy)", min_value=1, max_value=10, value=5, key="many_to_many-beam")

    sentences = split_sentences(text)
    if not sentences:
        st.stop()
    notes = []
    if len(text) > MAX_CHARACTERS:
        kept, used = [], 0
        for sentence in sentences:
            used += len(sentence) + 1
            if used > MAX_CHARACTERS:
                break
            kept.append(sentence)
        if kept:
            notes.append(
                f"The text is {len(text):,} characters long: only its first {len(kept)} sentence(s), "
                f"{MAX_CHARACTERS:,} characters at most, are translated."
            )
        else:
            kept = [sentences[0][:MAX_CHARACTERS]]
            notes.append(
                f"The first sentence is {len(sentences[0]):,} characters long: only its first "
                f"{MAX_CHARACTERS:,} characters are translated."
            )
        sentences = kept
    if len(sentences) > MAX_SENTENCES:
        notes.append(f"Only the first {MAX_SENTENCES} of {len(sentences)} sentences are translated.")
        sentences = sentences[:MAX_SENTENCES]
    for note in notes:
        st.warning(note)

    started = time.perf_counter()
    progress = st.progress(0.0, text="Translating…") if len(sentences) > CHUNK_SENTENCES else None
    translations = []
    for start in range(0, len(sentences), CHUNK_SENTENCES):
        translations += translator.translate(sentences[start : start + CHUNK_SENTENCES], beam_width=beam)
        if progress:
            progress.progress(
                len(translations) / len(sentences), text=f"Translated {len(translations)} of {len(sentences)} sentences"
            )
    if progress:
        progress.empty()
    elapsed_ms = (time.perf_counter() - started) * 1000
    peer = apertium(tuple(sentences)) if ApertiumPeer.available() else None

    st.subheader("Translation")
    table = {"English": sentences, f"Ours ({run.run_name})": [t.text for t in translations]}
    if isinstance(peer, list):
        table["Apertium"] = peer
    # A screenful of sentences in a table that wraps each whole (a data grid's one-line cells cut a sentence of
    # ten words off); more in the grid, which scrolls instead of making the page endless.
    if len(sentences) <= WRAPPED_SENTENCES:
        text_table(pd.DataFrame(table))
    else:
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    decoding = "greedy" if beam == 1 else f"beam search, width {beam}"
    st.caption(
        f"{len(sentences)} sentence(s) translated by {decoding} in {elapsed_ms:.0f} ms on CPU · "
        f"model {code(run.run_name)} ({checkpoint.config.arch})"
    )
    too_long = [(i + 1, len(s.split())) for i, s in enumerate(sentences) if len(s.split()) > trained_words]
    if too_long:
        listed = ", ".join(f"{number} ({words} words)" for number, words in too_long[:10])
        st.warning(
            f"Longer than trained: sentence(s) {listed}{' …' if len(too_long) > 10 else ''} exceed the "
            f"{trained_words} words this model saw in training, so expect parts of them to be dropped or "
            "garbled. Splitting them into shorter sentences helps."
        )
    if peer is None:
        st.info(
            f"Apertium (rule-based translation) is not installed, so only our model translates. Add it with "
            f"`{ApertiumPeer.INSTALL}` to see its translation beside ours."
        )
    elif isinstance(peer, str):
        st.warning(f"Apertium could not translate this: {literal(peer)}")

    unknown = sum(t.unknown_source_tokens for t in translations)
    if unknown:
        st.warning(
            f"{unknown} piece(s) of the input are unknown to the English tokenizer (other scripts, emoji, rare "
            "symbols): the model sees them as [UNK] and cannot translate them."
        )
    unfinished = [i + 1 for i, t in enumerate(translations) if not t.finished]
    if unfinished:
        bound = checkpoint.config
        st.warning(
            f"Sentence(s) {', '.join(map(str, unfinished))} hit the output length bound "
            f"({bound.max_len_ratio:g} × source subwords + {bound.max_len_extra}, at most "
            f"{bound.max_output_tokens}) before the model ended them: the translation is cut."
        )

    st.subheader("Per sentence: n-best list and attention")
    if len(translations) > DETAILED_SENTENCES:
        st.caption(f"The first {DETAILED_SENTENCES} sentences; the table above has all {len(translations)}.")
    # One sentence at a time, picked: collapsed expanders would still draw (and send) every sentence's heatmap.
    detailed = translations[:DETAILED_SENTENCES]
    translation = detailed[pick_text("Sentence", [t.source for t in detailed], key="many_to_many-detail")]
    # Sentences are user text: shown with st.text, never as Markdown or HTML.
    st.text(f"{translation.source}\n→ {translation.text or '(empty translation)'}")
    if len(translation.source.split()) > trained_words:
        st.caption(
            f"Longer than trained ({len(translation.source.split())} words; the model saw at most {trained_words})."
        )
    if beam > 1:  # whole and wrapped, as above: a beam's hypotheses often differ only at their ends
        text_table(
            pd.DataFrame(
                {
                    "hypothesis": [text for text, _ in translation.n_best],
                    "score (log-prob / length)": [f"{score:.3f}" for _, score in translation.n_best],
                }
            )
        )
    if uses_attention and translation.target_tokens:
        st.plotly_chart(
            attention_figure(translation.source_tokens, translation.target_tokens, translation.attention),
            width="stretch",
            key="many_to_many-attention",
        )
    elif not uses_attention:
        st.caption(
            "This model has no attention: the decoder sees the sentence only through the encoder's final state, "
            "so there is no heatmap."
        )
    memory_view.translator(memory, checkpoint, run, translator, translations)
