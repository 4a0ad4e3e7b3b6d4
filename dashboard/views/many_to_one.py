"""Many to one: the sentiment of tweets, one label per tweet, with VADER's verdict beside every one; the comparison
adds each run's leave-one-domain-out scores and how the champion stands against the peers."""

import hashlib
import html

import pandas as pd
import streamlit as st

from dashboard.components import memory_view
from dashboard.components.held_out_domains import domain_comparison
from dashboard.components.runs import checkpoint_pipeline, pick_model, run_catalogue
from dashboard.components.session import kept_for_session
from dashboard.components.text_input import lines_upload, text_entry
from dashboard.components.topologies import topology_page
from dashboard.components.user_text import code, csv_download
from models.many_to_one import TweetClassifier
from models.peers import VADER_DEFAULT_THRESHOLD, VaderPeer, logged_run
from models.tweet_text import SEED_TWEETS

MAX_CHARACTERS = 1_000  # a tweet is at most 280; longer lines are cut (with a note) before anything reads them
MAX_TWEETS = 20_000
HIGHLIGHTED = 50  # tweets shown token by token; the table holds them all
EXAMPLES = tuple(text for text, _ in SEED_TWEETS)  # everyday tweets, none about the corpus's topics
NO_VERDICT = "unsure"
KNOWS_LITTLE = "the model knows little of this text"


@st.cache_resource(show_spinner=False)
def vader(threshold: float) -> VaderPeer:
    return VaderPeer(threshold)


def vader_threshold() -> tuple[float, str]:
    """VADER's threshold as its logged run chose it on validation, or the authors' default when there is none."""
    run = logged_run(run_catalogue("many_to_one").runs, VaderPeer.NAME)
    if run is None:
        return VADER_DEFAULT_THRESHOLD, "VADER's default (no VADER run is logged)"
    return float(run.params["threshold"]), f"chosen on validation by the run {code(run.run_name)}"


def highlighted(pieces: list[tuple[str, float]]) -> str:
    """A tweet's pieces as HTML, each shaded by its attention weight; the text is escaped, never markup."""
    top = max((weight for _, weight in pieces), default=0) or 1
    spans = (
        f'<span title="{weight:.3f}" style="background: rgba(255, 140, 0, {weight / top:.2f}); '
        f'border-radius: 3px; white-space: pre-wrap">{html.escape(piece)}</span>'
        for piece, weight in pieces
    )
    return "".join(spans)


def verdict_html(explanation) -> str:
    """The model's verdict on one tweet as HTML, or the note that it has none."""
    if explanation.knows_little:
        return f"<b>{NO_VERDICT}</b> ({KNOWS_LITTLE})"
    return f"<b>{html.escape(explanation.label)}</b> {explanation.probability:.0%}"


def tweets_from_input() -> list[str]:
    source = st.radio(
        "Tweets from", ["Paste or type", "Upload a CSV or TXT file"], horizontal=True, key="many_to_one-source"
    )
    if source == "Paste or type":
        if st.button("Fill in the example tweets", key="many_to_one-examples"):
            st.session_state["many_to_one-text"] = "\n".join(EXAMPLES)
        text = text_entry(
            "One tweet per line",
            key="many_to_one-text",
            action="Classify",
            empty_hint="Paste one tweet per line (or fill in the examples), then press Classify.",
            placeholder="\n".join(EXAMPLES[:2]),
        )
        return text.splitlines()
    return (
        lines_upload(
            "A CSV with a text column, or a TXT file with one tweet per line",
            key="many_to_one-upload",
            empty_hint="Upload a CSV with a text column, or a TXT file with one tweet per line.",
        )
        or []
    )


def cut(tweets: list[str]) -> list[str]:
    """At most MAX_TWEETS tweets of at most MAX_CHARACTERS each, saying on the page what was cut."""
    if len(tweets) > MAX_TWEETS:
        st.warning(f"{len(tweets):,} tweets: only the first {MAX_TWEETS:,} are classified.")
        tweets = tweets[:MAX_TWEETS]
    long = sum(len(t) > MAX_CHARACTERS for t in tweets)
    if long:
        st.warning(
            f"{long:,} line(s) are longer than {MAX_CHARACTERS:,} characters (a tweet has at most 280): "
            f"only their first {MAX_CHARACTERS:,} characters are classified."
        )
    return [t[:MAX_CHARACTERS] for t in tweets]


def classify(classifier: TweetClassifier, peer: VaderPeer, tweets: list[str], run_key: str):
    """Verdicts of the model and of VADER, with a progress bar; kept for the session, so that using the
    comparison tab does not classify the same tweets again."""

    def explain_and_compare():
        progress = st.progress(0.0, text=f"Classifying {len(tweets):,} tweets…")
        explanations = classifier.explain(
            tweets,
            progress=lambda done, total: progress.progress(
                done / total, text=f"Classified {done:,} of {total:,} tweets"
            ),
        )
        verdicts = peer.verdicts(tweets, classifier.labels)
        progress.empty()
        return explanations, verdicts

    identity = hashlib.sha256("\n".join([run_key, str(peer.threshold), *tweets]).encode()).hexdigest()
    return kept_for_session("many_to_one-results", identity, explain_and_compare)


demo, memory = topology_page(
    "many_to_one",
    domain_comparison,
    headline_metrics=(
        "test_accuracy",
        "test_macro_f1",
        "lodo_mean_accuracy",
        "lodo_mean_macro_f1",
        "general_mean_accuracy",
        "general_mean_macro_f1",
        "seed_tweets_correct",
    ),
)
with demo:
    checkpoint, run = pick_model("many_to_one")
    classifier = checkpoint_pipeline(TweetClassifier.from_checkpoint, checkpoint)
    threshold, threshold_source = vader_threshold()
    peer = vader(threshold)

    st.subheader("Tweets")
    tweets = [line for line in tweets_from_input() if line.strip()]
    if not tweets:
        st.stop()
    tweets = cut(tweets)
    explanations, verdicts = classify(classifier, peer, tweets, run.run_id or str(run.bundle_dir))

    st.subheader("Verdicts")
    results = pd.DataFrame(
        {
            "tweet": tweets,
            "label": [NO_VERDICT if e.knows_little else e.label for e in explanations],
            "probability": [None if e.knows_little else round(e.probability, 4) for e in explanations],
            "VADER": verdicts,
            "note": [KNOWS_LITTLE if e.knows_little else "" for e in explanations],
        }
    )
    judged = results[results["label"] != NO_VERDICT]
    unsure = len(results) - len(judged)
    agreement = (judged["label"] == judged["VADER"]).mean() if len(judged) else 0.0
    counts = results["label"].value_counts()
    st.markdown(
        f"**{len(results):,}** tweet(s): "
        + ", ".join(
            f"{counts.get(label, 0):,} {label}" for label in (*classifier.labels, *([NO_VERDICT] if unsure else []))
        )
        + f" · the model and VADER agree on {agreement:.0%} of the model's verdicts"
    )
    if unsure:
        st.warning(
            f"{unsure:,} tweet(s): {KNOWS_LITTLE}. Most of their words are ones it never met in training "
            "(emoji only, another script or language), so it gives no verdict on them; VADER's stands "
            "beside them.",
            icon=":material/help:",
        )
    st.dataframe(
        results,
        hide_index=True,
        width="stretch",
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability", help="the model's probability of its label", min_value=0.5, max_value=1.0, format="%.3f"
            )
        },
    )
    st.download_button(
        "Download the results as CSV",
        csv_download(results),
        file_name="tweet_sentiment.csv",
        mime="text/csv",
        key="many_to_one-download",
    )
    truncated = sum(e.truncated for e in explanations)
    caption = (
        f"Model {code(run.run_name)} ({checkpoint.config.cell.upper()}, "
        f"{'bidirectional, ' if checkpoint.config.bidirectional else ''}{checkpoint.config.pooling} pooling"
        f"{', with the n-gram path' if checkpoint.config.ngram_buckets else ''}) · "
        f"VADER positive when its compound score ≥ {threshold:.2f}, {threshold_source}."
    )
    if truncated:
        caption += (
            f" {truncated:,} tweet(s) have more than {checkpoint.config.max_tokens} tokens: the model read "
            "only their first ones."
        )
    st.caption(caption)

    st.subheader("What the model attended to")
    if explanations[0].pieces is None:
        st.info(
            f"{code(run.run_name)} classifies from its final state only, so it gives no per-token weights. Pick a "
            "run with attention pooling (the BiLSTM + attention) above to see them."
        )
    else:
        shown = explanations[:HIGHLIGHTED]
        rows = "".join(
            f"<p style='margin: 0.3em 0'>{verdict_html(e)} · VADER {html.escape(verdict)} · {highlighted(e.pieces)}</p>"
            for e, verdict in zip(shown, verdicts)
        )
        st.html(f"<div style='line-height: 1.9'>{rows}</div>")
        st.caption(
            "Each piece is shaded by its attention weight (darkest = the piece that counted most; hover for "
            "the weight). The text is what the model read: repaired, URLs as `<url>` and @mentions as "
            "`@user`"
            + (
                ", the corpus's topic names (airlines, Apple, Coachella…) as `<topic>`"
                if checkpoint.config.mask_topics
                else ""
            )
            + " (the tokenizer also lower-cases it)."
            + (
                " The attention is the recurrent path's; the verdict also adds a linear vote of the tweet's words, "
                "word pairs and character 2–5-grams (the TF-IDF peer's features), which reads no order."
                if checkpoint.config.ngram_buckets
                else ""
            )
            + (
                f" The first {HIGHLIGHTED} of {len(explanations):,} tweets are shown; the table and the CSV "
                "hold them all."
                if len(explanations) > HIGHLIGHTED
                else ""
            )
        )
    memory_view.sentiment(memory, checkpoint, run, classifier, tweets)
