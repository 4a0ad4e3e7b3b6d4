"""One to many: caption an image word by word, and see where the decoder looked for each word."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from dashboard.components import memory_view
from dashboard.components.media_input import image_upload
from dashboard.components.out_of_domain import out_of_domain_calibration
from dashboard.components.runs import pick_model
from dashboard.components.topologies import topology_page
from dashboard.components.user_text import code, text_table
from models.generators import fashion_scenes as world
from models.one_to_many import GLYPHS_FILE, MAX_BEAM_WIDTH, OOD_FILE, OOD_STATISTIC, letterbox, to_tensor

POSITIONS = {
    "top left": (14, 14),
    "top": (32, 14),
    "top right": (50, 14),
    "left": (14, 32),
    "centre": (32, 32),
    "right": (50, 32),
    "bottom left": (14, 50),
    "bottom": (32, 50),
    "bottom right": (50, 50),
}
SHOWN = 256  # pixels: scenes are drawn 4× enlarged, sharp


@st.cache_resource(show_spinner=False)
def scene_glyphs(directory: str) -> dict | None:
    """The glyph sheet shipped beside a scene captioner (None for other models)."""
    glyphs = Path(directory) / GLYPHS_FILE
    return dict(np.load(glyphs)) if glyphs.is_file() else None


def shown(hypothesis) -> str:
    """A caption as the page shows it: one cut at the length limit ends in an ellipsis, not silently mid-phrase."""
    return " ".join(hypothesis.words) + ("" if hypothesis.finished else " …")


def enlarge(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image).resize((SHOWN, SHOWN), Image.NEAREST)


def overlay(image: np.ndarray, attention: np.ndarray) -> Image.Image:
    """The attention map (G×G, sums to 1) smoothly upscaled and laid over the image as a warm glow."""
    heat = attention / max(attention.max(), 1e-9)
    heat = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize((SHOWN, SHOWN), Image.BICUBIC)) / 255
    base = np.asarray(enlarge(image), dtype=np.float32) * 0.45
    glow = np.stack([heat * 255, heat * 200, heat * 40], axis=-1)
    return Image.fromarray(np.clip(base + glow, 0, 255).astype(np.uint8))


def compose(glyphs: dict) -> world.Scene | None:
    """Up to three garments picked on the page; None (with a message) when the layout is not a valid scene."""
    objects = []
    columns = st.columns(3)
    for slot, column in enumerate(columns):
        with column:
            garment = st.selectbox(
                f"Garment {slot + 1}",
                ["—", *world.SCENE_GARMENTS],
                key=f"one_to_many-garment-{slot}",
                index=(1, 4, 0)[slot] if slot < 2 else 0,
            )
            if garment == "—":
                continue
            colour = st.selectbox("Colour", list(world.COLOURS), key=f"one_to_many-colour-{slot}", index=slot * 3)
            size = st.radio("Size", list(world.SIZES), key=f"one_to_many-size-{slot}", horizontal=True, index=slot % 2)
            place = st.selectbox("Position", list(POSITIONS), key=f"one_to_many-place-{slot}", index=(3, 5, 1)[slot])
            variants = np.flatnonzero(glyphs["labels"] == world.GARMENT_WORDS.index(garment))
            variant = st.slider("Which one", 1, len(variants), 1, key=f"one_to_many-variant-{slot}")
            side = world.SIZES[size]
            x, y = (centre - side // 2 for centre in POSITIONS[place])
            objects.append(world.SceneObject(garment, colour, size, x, y, int(variants[variant - 1])))
    if not objects:
        st.info("Pick at least one garment to compose a scene.")
        return None
    problem = world.layout_problem(objects)
    if problem:
        st.error(f"Not a scene the captioner was trained on: {problem}. Move or resize a garment.")
        return None
    return world.Scene(tuple(objects), (20, 20, 28), 0)


demo, memory = topology_page(
    "one_to_many",
    headline_metrics=(
        "test_scene_match",
        "test_object_f1",
        "test_relation_accuracy",
        "test_bleu4",
        "test_holdout_scene_match",
        "test_holdout_object_f1",
        "test_holdout_relation_accuracy",
        "test_holdout_bleu4",
    ),
)
with demo:
    checkpoint, run = pick_model("one_to_many", builtin_dataset="generated scenes")
    model, size = checkpoint.model, checkpoint.config.image_size
    glyphs = scene_glyphs(str(checkpoint.directory))
    out_of_domain = out_of_domain_calibration(checkpoint, run, OOD_FILE, OOD_STATISTIC)

    st.subheader("Input")
    sources = (["A random test scene", "Compose a scene"] if glyphs else []) + ["Upload an image"]
    source = st.radio("Image source", sources, horizontal=True, key="one_to_many-source")
    truth, original = None, None
    if source == "A random test scene":
        if st.button("Another scene", icon=":material/casino:", key="one_to_many-another"):
            st.session_state["one_to_many-seed"] = st.session_state.get("one_to_many-seed", 0) + 1
        truth = world.sample_scene(np.random.default_rng(st.session_state.get("one_to_many-seed", 0)), glyphs["labels"])
    elif source == "Compose a scene":
        truth = compose(glyphs)
        if truth is None:
            st.stop()
    else:
        decoded = image_upload("Any image", key="one_to_many-upload")
        if decoded is None:
            st.info(
                "Upload an image: it is letterboxed to the model's square input. Scenes of coloured garments on a "
                "dark background are what it knows; anything else shows what a captioner does out of its depth."
            )
            st.stop()
        original = decoded.image
    image = world.render_scene(truth, glyphs["images"]) if truth else letterbox(original, size)

    beam_width = st.slider("Beam width (1 = greedy)", 1, MAX_BEAM_WIDTH, 3, key="one_to_many-beam")
    pixels = to_tensor(image[None])
    started = time.perf_counter()
    with torch.no_grad():
        hypotheses = model.caption(pixels, beam_width, n_best=min(beam_width, 5))[0]
        greedy = model.caption(pixels)[0][0] if beam_width > 1 else hypotheses[0]
    elapsed_ms = (time.perf_counter() - started) * 1000
    best = hypotheses[0]
    caption = " ".join(best.words)

    left, right = st.columns([1, 2])
    with left:
        if original is not None:
            st.image(original, caption="Your upload", width="stretch")
        st.image(enlarge(image), caption=f"What the model sees ({size}×{size})", width=SHOWN)
    with right:
        st.markdown(f"### “{shown(best) if best.words else '…'}”")
        if not best.finished:
            st.warning(
                f"**Cut at the length limit.** The decoder wrote {len(best.words)} words, the most it may, "
                "without ending the caption, so it stops mid-phrase: the rest of the sentence is missing.",
                icon=":material/content_cut:",
            )
        if truth is not None:
            check = world.compare_scene(caption, truth)
            if check.exact:
                st.success("Right: every garment with its colour and size, and true relations between them.")
            else:
                st.error(
                    f"Not exactly right: {check.matched_objects} of {check.true_objects} garments named "
                    f"({check.mentioned_objects} mentioned), colours right {check.colours_right}, sizes right "
                    f"{check.sizes_right}, relations right {check.relations_right} of {check.relations_stated}."
                    + ("" if check.parsed else " The caption does not even parse.")
                )
            st.caption("One true description: " + world.caption_variants(truth)[0])
        if out_of_domain and greedy.entropy > out_of_domain["threshold"]:
            st.warning(
                f"**Out of domain?** The captioner hesitated: highest word entropy {greedy.entropy:.2f} "
                f"nats, above the threshold {out_of_domain['threshold']:.2f} chosen on data (it flags "
                f"{out_of_domain['photos_flagged']:.0%} of real photos and "
                f"{out_of_domain['scenes_flagged']:.1%} of validation scenes). Treat this caption as a guess.",
                icon=":material/help:",
            )
        elif out_of_domain and original is not None:
            auc = out_of_domain.get("auc", float("nan"))
            st.caption(
                f"No out-of-domain notice: highest word entropy {greedy.entropy:.2f} ≤ "
                f"{out_of_domain['threshold']:.2f}. The signal is imperfect (AUC {auc:.2f} between scenes and "
                "photos), so silence does not prove the image is a scene."
            )
        # Whole and wrapped: the hypotheses of a beam often differ only at their ends, which a data grid's one-line
        # cells cut off.
        text_table(
            pd.DataFrame(
                {
                    "caption": [shown(h) for h in hypotheses],
                    "mean log-prob per word": [f"{h.score:.3f}" for h in hypotheses],
                }
            )
        )
        st.caption(
            f"{len(hypotheses)}-best of beam width {beam_width} · highest word entropy (greedy) "
            f"{greedy.entropy:.2f} nats · {elapsed_ms:.0f} ms on CPU · model {code(run.run_name)}"
            + (
                " · decoding keeps mentions consistent: no garment is named twice as new, and “the …” "
                "refers to one already named"
                if model.config.consistent_mentions
                else ""
            )
        )

    st.subheader("Attention")
    if best.attention is None or not best.words:
        st.info(
            "This model has no attention (Show and Tell): it saw the image once, as the vector that started the "
            "decoder, and wrote every word from memory. Pick a Show, Attend and Tell run to see where it looks."
        )
    else:
        words = [f"{i + 1}. {word}" for i, word in enumerate(best.words)]
        chosen = st.select_slider(
            "Word", options=range(len(words)), format_func=lambda i: words[i], key="one_to_many-word"
        )
        st.image(
            overlay(image, best.attention[chosen]),
            width=SHOWN,
            caption=f"Where the decoder looked before writing “{best.words[chosen]}”",
        )
        # A toggle, not an expander: a collapsed expander's images are still drawn and sent on every run.
        if st.toggle("Every word's attention", key="one_to_many-every-word"):
            per_row = 7
            for start in range(0, len(words), per_row):
                for column, index in zip(st.columns(per_row), range(start, min(start + per_row, len(words)))):
                    column.image(overlay(image, best.attention[index]), caption=best.words[index], width="stretch")
    memory_view.captioner(memory, checkpoint, run, image, best.words)
