"""What the dashboard shows of each topology: icon, one-line demo, explanation and diagram layout, keyed by the
names of models.TOPOLOGIES (which holds the rest: title and model module). docs/adding-a-topology.md lists every
piece a topology needs; tests/test_topology_registry.py checks each registered topology has them all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    steps: int
    inputs: tuple[int, ...]  # time steps that read an input
    outputs: tuple[int, ...]  # time steps that emit an output
    recurrent: bool = True


@dataclass(frozen=True)
class TopologyUI:
    icon: str  # a Streamlit material icon
    demo: str  # what the page's demo does, in a few words
    explanation: str
    layout: Layout  # the diagram


TOPOLOGY_UI = {
    "one_to_one": TopologyUI(
        ":material/image:",
        "Classify a clothing image (Fashion-MNIST)",
        "A plain neural network, independent of previous information: one input, one output, no recurrence. "
        "Image classification is the classic example. The MLP and the CNN here are plain networks; the row-LSTM "
        "shows what happens when you force a recurrent network onto the same job, reading the 28 rows of the image "
        "as a sequence of 28 time steps.",
        Layout(1, (0,), (0,), recurrent=False),
    ),
    "one_to_many": TopologyUI(
        ":material/subtitles:",
        "Caption an image",
        "One input, a sequence of outputs: image captioning takes an image and outputs a sentence of words, e.g. "
        "“man in black shirt is playing guitar.” An encoder turns the image into features; a recurrent decoder "
        "emits one word per step, each conditioned on the words before it.",
        Layout(4, (0,), (0, 1, 2, 3)),
    ),
    "many_to_one": TopologyUI(
        ":material/sentiment_satisfied:",
        "Sentiment of tweets",
        "A sequence in, one label out: sentiment analysis reads a tweet word by word and classifies it as positive "
        "or negative once it has seen the whole sequence.",
        Layout(4, (0, 1, 2, 3), (3,)),
    ),
    "many_to_many": TopologyUI(
        ":material/translate:",
        "Translate English → Spanish",
        "A sequence in, a sequence of another length out: machine translation. An encoder reads the English "
        "sentence; a decoder writes the Spanish one, attending to the source words it needs at each step.",
        Layout(6, (0, 1, 2), (3, 4, 5)),
    ),
    "many_to_many_synced": TopologyUI(
        ":material/movie:",
        "Label every frame of a video",
        "Synced sequence input and output: video classification where we wish to label each frame. A frame alone "
        "shows no motion, so the network needs memory; a bidirectional one also sees what comes next.",
        Layout(4, (0, 1, 2, 3), (0, 1, 2, 3)),
    ),
}
