"""What each topology is, in a few sentences, for the home page and the top of every page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from dashboard.components.diagrams import LEGEND_SVG, topology_svg
from models import TOPOLOGIES


@dataclass(frozen=True)
class TopologyText:
    icon: str
    demo: str
    explanation: str


TEXTS = {
    "one_to_one": TopologyText(
        ":material/image:", "Classify a clothing image (Fashion-MNIST)",
        "A plain neural network, independent of previous information: one input, one output, no recurrence. "
        "Image classification is the classic example. The MLP and the CNN here are plain networks; the row-LSTM "
        "shows what happens when you force a recurrent network onto the same job, reading the 28 rows of the image "
        "as a sequence of 28 time steps."),
    "one_to_many": TopologyText(
        ":material/subtitles:", "Caption an image",
        "One input, a sequence of outputs: image captioning takes an image and outputs a sentence of words, e.g. "
        "“man in black shirt is playing guitar.” An encoder turns the image into features; a recurrent decoder "
        "emits one word per step, each conditioned on the words before it."),
    "many_to_one": TopologyText(
        ":material/sentiment_satisfied:", "Sentiment of tweets",
        "A sequence in, one label out: sentiment analysis reads a tweet word by word and classifies it as positive "
        "or negative once it has seen the whole sequence."),
    "many_to_many": TopologyText(
        ":material/translate:", "Translate English → Spanish",
        "A sequence in, a sequence of another length out: machine translation. An encoder reads the English "
        "sentence; a decoder writes the Spanish one, attending to the source words it needs at each step."),
    "many_to_many_synced": TopologyText(
        ":material/movie:", "Label every frame of a video",
        "Synced sequence input and output: video classification where we wish to label each frame. A frame alone "
        "shows no motion, so the network needs memory; a bidirectional one also sees what comes next."),
}


def diagram(topology: str, height: int = 150) -> None:
    st.image(topology_svg(topology, height), width="content")


def topology_page(topology: str, more_comparison: Callable[[], None] | None = None,
                  headline_metrics: tuple[str, ...] | None = None, with_memory: bool = False):
    """The frame of every topology page: header, then a Demo tab (returned, for the page to fill) and a Compare
    tab, which ends with ``more_comparison()`` when a page has its own tables to add. The comparison is drawn
    first, so it stays on the page when the demo stops early for a missing input. ``headline_metrics`` narrows
    the comparison's table and bars to those metrics (default: every ``test_*`` metric).

    ``with_memory`` adds a Memory tab between them and returns (demo, memory_view.MemoryTab), for the page to
    hand its input to a memory_view function; the tabs then know which one is open, so the Memory views cost
    nothing while it is closed (switching tabs reruns the page)."""
    from dashboard.components.run_comparison import run_comparison

    header(topology)
    if with_memory:
        demo, memory, compare = st.tabs(["Demo", "Memory", "Compare runs"], key=f"{topology}-tab", on_change="rerun")
    else:
        demo, compare = st.tabs(["Demo", "Compare runs"])
    with compare:
        run_comparison(topology, headline_metrics)
        if more_comparison:
            more_comparison()
    if with_memory:
        from dashboard.components.memory_view import memory_tab

        return demo, memory_tab(memory, topology)
    return demo


def header(topology: str) -> None:
    """Title, diagram and explanation at the top of a topology page."""
    text = TEXTS[topology]
    st.title(f"{text.icon} {TOPOLOGIES[topology].title}")
    left, right = st.columns([1, 2], vertical_alignment="center")
    with left:
        diagram(topology)
        st.image(LEGEND_SVG, width="content")
    with right:
        st.markdown(f"**{text.demo}.** {text.explanation}")
