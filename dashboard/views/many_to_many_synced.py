"""Many to many (synced): label the camera motion of every frame of a video, with a per-frame network, a
unidirectional GRU or a bidirectional one."""

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components import memory_view
from dashboard.components.runs import pick_model
from dashboard.components.session import kept_for_session
from dashboard.components.topologies import topology_page
from dashboard.components.user_text import code, csv_download, literal
from dashboard.components.video import (
    FrameTimes,
    StillFrames,
    UploadedVideo,
    captioned_frames,
    decoding_notes,
    encode_h264,
    upload_limit_mb,
    video_upload,
)
from models.generators.camera_motion_clips import ClipGenerator, load_sample_photos
from models.sequences import segments
from models.video import VideoError, decode_video

MAX_FRAMES = 1800  # one minute at 30 fps; longer videos are cut (and the page says so)
MAX_PIXELS = 1800 * 1280 * 720  # a 4K video stops after 200 frames: decoding 4K costs ~10× a 720p frame
PREVIEW_WIDTH = 320  # the scrubber and the annotated video show frames this wide
COLOURS = {
    "static": "#9e9e9e",
    "pan left": "#1f77b4",
    "pan right": "#17becf",
    "tilt up": "#2ca02c",
    "tilt down": "#bcbd22",
    "zoom in": "#ff7f0e",
    "zoom out": "#d62728",
    "cut": "#000000",
}
CONVENTION = """
**Conventions.** Labels name the **camera's** motion, not the content's:

| label | the camera… | so the scene in the frame… |
|---|---|---|
| pan left / pan right | turns left / right | slides right / left |
| tilt up / tilt down | points up / down | slides down / up |
| zoom in / zoom out | narrows / widens its view | grows from / shrinks toward the centre |
| cut | starts a new shot | is another scene (the first frame of the shot) |

Frame *t* carries the motion from frame *t* to frame *t+1*, so a segment starts on the frame where the camera
starts moving. A unidirectional model sees only frames up to *t*, so it is always at least one frame late at a
change of motion; a bidirectional one also sees *t+1*. Frames are squashed to 64×64 grey before labelling.
"""


@st.cache_data(show_spinner=False, max_entries=4)
def sample_clip(seed: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A generated clip over the test photos (never seen in training), with its true labels."""
    photos = load_sample_photos()
    return ClipGenerator(photos, procedural=not photos).clip(frames, seed)


def decoded_upload(upload: UploadedVideo, progress) -> tuple[np.ndarray, StillFrames, object]:
    """Decoded frames of the latest upload, kept in the session (by content, so the same clip uploaded again is
    not decoded again) so moving the scrubber does not decode again. The preview frames are encoded as JPEG while
    they are decoded: as pixels, a minute of video would hold ~300 MB per session (twice that while stacked)."""

    def decode() -> tuple[np.ndarray, StillFrames, object]:
        with upload.on_disk() as path:
            frames, jpegs, info = decode_video(
                path,
                max_frames=MAX_FRAMES,
                max_pixels=MAX_PIXELS,
                preview_width=PREVIEW_WIDTH,
                encode_preview=StillFrames.jpeg,
                progress=progress,
            )
        return frames, StillFrames.of_jpegs(jpegs), info

    return kept_for_session("many_to_many_synced-decoded", upload.digest, decode)


def timeline(
    times: FrameTimes, rows: dict[str, np.ndarray], confidence: np.ndarray, names: tuple[str, ...]
) -> go.Figure:
    """Coloured bands per label (one row per labelling) and the model's confidence as a line."""
    figure = go.Figure()
    shown = set()
    for row, labels in rows.items():
        for label, first, end in segments(labels):
            name = names[label]
            figure.add_bar(
                x=[times.ends[end - 1] - times.starts[first]],
                base=[times.starts[first]],
                y=[row],
                orientation="h",
                marker_color=COLOURS.get(name, "#7f7f7f"),
                name=name,
                legendgroup=name,
                showlegend=name not in shown,
                width=0.8,
                hovertemplate=f"{name}<br>frames {first}–{end - 1}<br>%{{base:.2f}} s + %{{x:.2f}} s<extra></extra>",
            )
            shown.add(name)
    figure.add_scatter(
        x=times.starts, y=confidence, mode="lines", name="confidence", yaxis="y2", line=dict(color="#444", width=1.5)
    )
    figure.update_layout(
        barmode="overlay",
        height=230 + 40 * len(rows),  # 30 px of it for the legend above the plot
        margin=dict(t=40, b=10, l=10, r=10),
        xaxis=dict(title="seconds"),
        yaxis=dict(domain=[0, 0.55]),
        yaxis2=dict(domain=[0.65, 1], range=[0, 1.02], title="confidence"),
        # Above the plot: below it, the legend sat on the x axis's title at every height the figure takes.
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return figure


demo, memory = topology_page(
    "many_to_many_synced",
    headline_metrics=("test_accuracy", "test_macro_f1", "test_edit_score", "test_f1_50"),
)
with demo:
    checkpoint, run = pick_model("many_to_many_synced")
    names = checkpoint.config.labels
    with st.expander("How to read the labels", expanded=False):
        st.markdown(CONVENTION)

    source = st.radio(
        "Video source", ["Upload a video", "Generate a sample clip"], horizontal=True, key="many_to_many_synced-source"
    )
    truth, notes = None, []
    if source == "Upload a video":
        st.caption(
            f"Videos up to {upload_limit_mb()} MB; the first {MAX_FRAMES} frames are labelled, fewer for "
            "very large frames."
        )
        upload = video_upload("A video (mp4, webm, avi, mov, mkv or gif)", key="many_to_many_synced-upload")
        if upload is None:
            st.info("Upload a video, or generate a sample clip with known labels.")
            st.stop()
        bar = st.progress(0.0, text="Decoding…")
        try:
            frames, preview, info = decoded_upload(upload, lambda share: bar.progress(share * 0.9, text="Decoding…"))
        except VideoError as error:
            bar.empty()
            st.error(f"**{code(upload.name)}**: {literal(error)}.")
            st.stop()
        times = FrameTimes.of(info)
        notes = decoding_notes(info, times)
        bar.progress(0.95, text="Labelling…")
    else:
        left, right = st.columns(2)
        seed = int(left.number_input("Seed", 0, 10_000, 7, key="many_to_many_synced-seed"))
        length = int(right.slider("Frames", 32, 400, 200, step=8, key="many_to_many_synced-frames"))
        frames, truth = sample_clip(seed, length)
        times = FrameTimes.steady(len(frames), 25.0)
        shown = np.repeat(np.repeat(frames, 4, axis=1), 4, axis=2)  # 64 -> 256, sharp
        preview = np.repeat(shown[..., None], 3, axis=3)
        bar = st.progress(0.95, text="Labelling…")
        st.caption("Filmed by the training generator over test photos no model saw (25 fps assumed).")

    # Labels and the annotated video are kept for the session: moving the scrubber reruns the page, not the model.
    identity = (upload.digest if truth is None else f"sample-{seed}-{length}", run.run_name)

    def label_and_annotate() -> tuple[np.ndarray, float, bytes]:
        started = time.perf_counter()
        probabilities = checkpoint.model.label_video(frames)
        seconds = time.perf_counter() - started
        predicted, confidence = probabilities.argmax(1), probabilities.max(1)
        bar.progress(0.97, text="Encoding the annotated video…")
        captions = [f"{names[p]} {c:.0%}" for p, c in zip(predicted, confidence)]
        colours = [COLOURS.get(names[p], "#7f7f7f") for p in predicted]
        return probabilities, seconds, encode_h264(captioned_frames(preview, captions, colours), times.fps)

    probabilities, seconds, annotated = kept_for_session("many_to_many_synced-result", identity, label_and_annotate)
    bar.empty()
    predicted = probabilities.argmax(1)
    confidence = probabilities.max(1)
    for note in notes:
        st.warning(note)
    if len(frames) == 1:
        st.warning("A single frame shows no motion: its label is a guess.")

    summary = st.columns(4)
    summary[0].metric("Frames labelled", f"{len(frames)}")
    summary[1].metric("Duration", f"{times.ends[-1]:.1f} s")
    summary[2].metric("Labelling speed", f"{len(frames) / max(seconds, 1e-9):.0f} frames/s")
    if truth is not None:
        summary[3].metric("Accuracy vs. true labels", f"{(predicted == truth).mean():.1%}")
    rows = {"true" if truth is not None else None: truth, run.run_name: predicted}
    rows = {row: labels for row, labels in rows.items() if labels is not None}
    st.plotly_chart(timeline(times, rows, confidence, names), width="stretch")

    scrubber, table = st.columns([3, 2])
    with scrubber:
        index = st.slider("Frame", 0, len(frames) - 1, 0, key="many_to_many_synced-frame") if len(frames) > 1 else 0
        caption = (
            f"frame {index} · {times.starts[index]:.2f} s · **{names[predicted[index]]}** ({confidence[index]:.0%})"
        )
        if truth is not None:
            caption += f" · true: {names[truth[index]]}"
        st.image(preview[index], width=min(480, 2 * preview.shape[2]))
        st.markdown(caption)
    with table:
        per_label = pd.DataFrame({"label": [names[i] for i in predicted], "seconds": times.durations})
        per_label = per_label.groupby("label", sort=False)["seconds"].sum().reindex(names).dropna()
        st.dataframe(
            pd.DataFrame({"seconds": per_label.round(2), "share": (per_label / per_label.sum()).map("{:.0%}".format)}),
            width="stretch",
        )

    table_of_frames = pd.DataFrame(
        {
            "frame": np.arange(len(frames)),
            "time_s": times.starts.round(4),
            "label": [names[i] for i in predicted],
            "confidence": confidence.round(4),
            **{f"p_{name}": probabilities[:, i].round(4) for i, name in enumerate(names)},
        }
    )
    if truth is not None:
        table_of_frames["true_label"] = [names[i] for i in truth]
    st.subheader("Annotated video")
    player, downloads = st.columns([2, 1])
    player.video(annotated, format="video/mp4")
    downloads.download_button("Download the annotated video (H.264 mp4)", annotated, "camera_motion.mp4", "video/mp4")
    downloads.download_button(
        "Download per-frame labels (CSV)", csv_download(table_of_frames), "camera_motion.csv", "text/csv"
    )
    downloads.caption("The CSV has each frame's time, label, confidence and the probability of every label.")
    st.caption(
        f"Model {code(run.run_name)} ({checkpoint.config.arch}, recurrence {checkpoint.config.recurrence}) · "
        f"labelling {seconds * 1000:.0f} ms on CPU for {len(frames)} frames (in windows of 256 frames, "
        "overlapping by 32, for any length)."
    )
    memory_view.video_labeller(memory, checkpoint, run, frames, names)
