"""Many to many: translate English to Spanish with an encoder–decoder, beside Apertium (rule-based)."""
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components.runs import checkpoint_pipeline, pick_model
from dashboard.components.topologies import topology_page
from models.many_to_many import (APERTIUM_INSTALL, ApertiumUnavailable, Translator, apertium_available,
                                 apertium_translate, split_sentences)

MAX_CHARACTERS = 2000  # longer text is cut (with a note): translation time grows with it
MAX_SENTENCES = 20
EXAMPLES = (
    "I'm hungry. Let's eat something.",
    "Tom doesn't like to swim in the sea.",
    "Where is the train station?",
    "She has been reading a book all day.",
    "We are going to the beach tomorrow. Do you want to come?",
)


@st.cache_data(show_spinner=False, max_entries=64)
def apertium(sentences: tuple[str, ...]) -> list[str] | str:
    """Apertium's translations, or why there are none."""
    try:
        return apertium_translate(list(sentences), timeout=30)
    except ApertiumUnavailable as error:
        return str(error)


def attention_figure(source_tokens: list[str], target_tokens: list[str], weights) -> go.Figure:
    # Tokens repeat ("▁the" twice): plotly merges equal category labels, so each gets its position appended.
    columns = [f"{token} ·{i}" for i, token in enumerate(source_tokens)]
    rows = [f"{token} ·{i}" for i, token in enumerate(target_tokens)]
    figure = go.Figure(go.Heatmap(z=weights.tolist(), x=columns, y=rows, colorscale="Blues", zmin=0, zmax=1,
                                  hovertemplate="%{y} ← %{x}<br>weight %{z:.2f}<extra></extra>"))
    figure.update_layout(height=max(220, 22 * len(rows) + 90), margin=dict(t=10, b=10, l=10, r=10),
                         xaxis=dict(title="English subwords (encoder)", tickangle=-45),
                         yaxis=dict(title="Spanish subwords (decoder)", autorange="reversed"))
    return figure


with topology_page("many_to_many"):
    checkpoint, run = pick_model("many_to_many")
    translator = checkpoint_pipeline(Translator.from_checkpoint, checkpoint)
    uses_attention = checkpoint.config.attention != "none"

    st.subheader("Input")
    example = st.selectbox("Start from an example", EXAMPLES, key="many_to_many-example")
    text = st.text_area("English text: one or more sentences", value=example, height=100, key="many_to_many-text")
    beam = st.slider("Beam width (1 = greedy)", min_value=1, max_value=10, value=5, key="many_to_many-beam")

    sentences = split_sentences(text)
    if not sentences:
        st.info("Type an English sentence (or pick an example) to translate it.")
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
            notes.append(f"The text is {len(text):,} characters long: only its first {len(kept)} sentence(s), "
                         f"{MAX_CHARACTERS:,} characters at most, are translated.")
        else:
            kept = [sentences[0][:MAX_CHARACTERS]]
            notes.append(f"The first sentence is {len(sentences[0]):,} characters long: only its first "
                         f"{MAX_CHARACTERS:,} characters are translated.")
        sentences = kept
    if len(sentences) > MAX_SENTENCES:
        notes.append(f"Only the first {MAX_SENTENCES} of {len(sentences)} sentences are translated.")
        sentences = sentences[:MAX_SENTENCES]
    for note in notes:
        st.warning(note)

    started = time.perf_counter()
    translations = translator.translate(sentences, beam=beam)
    elapsed_ms = (time.perf_counter() - started) * 1000
    peer = apertium(tuple(sentences)) if apertium_available() else None

    st.subheader("Translation")
    table = {"English": sentences, f"Ours ({run.run_name})": [t.text for t in translations]}
    if isinstance(peer, list):
        table["Apertium"] = peer
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    decoding = "greedy" if beam == 1 else f"beam search, width {beam}"
    st.caption(f"{len(sentences)} sentence(s) translated as one batch by {decoding} in {elapsed_ms:.0f} ms on CPU · "
               f"model `{run.run_name}` ({checkpoint.config.arch})")
    if peer is None:
        st.info(f"Apertium (rule-based translation) is not installed, so only our model translates. Add it with "
                f"`{APERTIUM_INSTALL}` to see its translation beside ours.")
    elif isinstance(peer, str):
        st.warning(f"Apertium could not translate this: {peer}")

    unknown = sum(t.unknown_source_tokens for t in translations)
    if unknown:
        st.warning(f"{unknown} piece(s) of the input are unknown to the English tokenizer (other scripts, emoji, rare "
                   "symbols): the model sees them as [UNK] and cannot translate them.")
    unfinished = [i + 1 for i, t in enumerate(translations) if not t.finished]
    if unfinished:
        bound = checkpoint.config
        st.warning(f"Sentence(s) {', '.join(map(str, unfinished))} hit the output length bound "
                   f"({bound.max_len_ratio:g} × source subwords + {bound.max_len_extra}, at most "
                   f"{bound.max_output_tokens}) before the model ended them: the translation is cut.")

    st.subheader("Per sentence: n-best list and attention")
    for index, translation in enumerate(translations):
        # Sentences are user text: shown with st.text, never as Markdown or HTML.
        with st.expander(f"Sentence {index + 1}", expanded=index == 0):
            st.text(f"{translation.source}\n→ {translation.text or '(empty translation)'}")
            if beam > 1:
                n_best = pd.DataFrame({"hypothesis": [text for text, _ in translation.n_best],
                                       "score (log-prob / length)": [round(s, 3) for _, s in translation.n_best]})
                st.dataframe(n_best, hide_index=True, width="stretch")
            if uses_attention and translation.target_tokens:
                st.plotly_chart(attention_figure(translation.source_tokens, translation.target_tokens,
                                                 translation.attention), width="stretch",
                                key=f"many_to_many-attention-{index}")
            elif not uses_attention:
                st.caption("This model has no attention: the decoder sees the sentence only through the encoder's "
                           "final state, so there is no heatmap.")
