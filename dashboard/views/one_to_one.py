"""One to one: classify one clothing image with a plain network (or, for contrast, a row-by-row LSTM)."""

import time
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from dashboard.components import memory_view
from dashboard.components.charts import probability_bars
from dashboard.components.media_input import image_upload
from dashboard.components.out_of_domain import out_of_domain_calibration
from dashboard.components.runs import pick_model
from dashboard.components.topologies import topology_page
from dashboard.components.user_text import code
from models.one_to_one import OOD_FILE, OOD_STATISTIC, preprocess_image

EXAMPLES = Path(__file__).parents[1] / "assets" / "fashion_mnist_test_examples.npz"
WHAT_IT_KNOWS = (
    "The models know Fashion-MNIST: 28×28 grayscale catalogue photos of **one garment, light on a black "
    "background**, centred and filling the frame. An upload is made to look like that (grey, cropped to "
    "the object, inverted when its background is light); anything else (a face, a landscape, several "
    "objects) still gets one of the 10 labels, so the page says when an image looks unlike them."
)


@st.cache_data
def test_examples() -> dict[str, np.ndarray]:
    with np.load(EXAMPLES) as archive:
        return dict(archive)


demo, memory = topology_page("one_to_one")
with demo:
    checkpoint, run = pick_model("one_to_one")
    labels = checkpoint.config.labels
    out_of_domain = out_of_domain_calibration(checkpoint, run, OOD_FILE, OOD_STATISTIC)

    st.subheader("Input")
    st.caption(WHAT_IT_KNOWS)
    source = st.radio("Image source", ["Upload an image", "Pick a test-set example"], horizontal=True)
    true_label = None
    if source == "Upload an image":
        decoded = image_upload("An image of one garment", key="one_to_one-upload")
        if decoded is None:
            st.info("Upload a photo or drawing of one piece of clothing, or pick a test-set example.")
            st.stop()
        original = decoded.image
        pixels = preprocess_image(original)
    else:
        examples = test_examples()
        index = st.select_slider(
            "Test-set example",
            options=range(len(examples["labels"])),
            format_func=lambda i: f"#{examples['test_index'][i]} ({labels[examples['labels'][i]]})",
        )
        pixels = examples["images"][index].astype(np.float32) / 255
        original, true_label = None, labels[examples["labels"][index]]

    started = time.perf_counter()
    probabilities, evidence = checkpoint.model.predict_with_evidence(torch.from_numpy(pixels)[None, None])
    probabilities, evidence = probabilities[0], evidence.item()  # (1, C) -> (C,), (1,) -> a number
    elapsed_ms = (time.perf_counter() - started) * 1000

    left, middle, right = st.columns([1, 1, 2])
    if original is not None:
        left.image(original, caption="Your upload", width="stretch")
    middle.image((pixels * 255).astype(np.uint8), caption="What the model sees (28×28, preprocessed)", width="stretch")
    best = int(probabilities.argmax())
    with right:
        verdict = f"**{labels[best]}** ({probabilities[best].item():.1%})"
        if true_label is not None:
            verdict += f" · true label: **{true_label}** {'✅' if true_label == labels[best] else '❌'}"
        st.markdown(verdict)
        if not pixels.any():
            st.warning(
                "**Nothing to classify.** The image is one flat colour, so no garment was found in it; the "
                "label below means nothing.",
                icon=":material/help:",
            )
        elif out_of_domain and evidence < out_of_domain["threshold"]:
            st.warning(
                f"**Out of domain?** This image looks unlike the garments the model was trained on: its "
                f"evidence for any class (log-sum-exp of the logits) is {evidence:.2f}, below the threshold "
                f"{out_of_domain['threshold']:.2f} chosen on data (it flags "
                f"{out_of_domain['photos_flagged']:.0%} of real photos and "
                f"{out_of_domain['validation_flagged']:.0%} of validation garments). Treat the label as a "
                "guess.",
                icon=":material/help:",
            )
        elif out_of_domain and original is not None:
            st.caption(
                f"No out-of-domain notice: evidence {evidence:.2f} ≥ {out_of_domain['threshold']:.2f}. The "
                f"signal is imperfect (AUC {out_of_domain['auc']:.2f} between garments and photos), so "
                "silence does not prove the image is a garment."
            )
        st.plotly_chart(probability_bars(labels, probabilities.tolist()), width="stretch")
        st.caption(
            f"Top 5 of {len(labels)} classes · inference {elapsed_ms:.1f} ms on CPU · model "
            f"{code(run.run_name)} ({checkpoint.config.arch})"
        )
    memory_view.row_lstm(memory, checkpoint, run, pixels)
