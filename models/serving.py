"""RNN Lab's models behind MLflow's scoring server (``mlflow models serve``): one pyfunc model per trained run.

The pyfunc model is the run's checkpoint folder (safetensors weights, config, tokenizers) as an artifact, and
``ServedModel``, which loads it with models.checkpoint.load_checkpoint and answers with the topology's own
inference API. Requests are tables (MLflow's ``dataframe_records`` or ``dataframe_split``), one row per input:

    topology             input columns                                  output columns
    many_to_one          text (a tweet)                                 label, probability_<label> for each label
    many_to_many         text (English; several sentences are fine)    translation (Spanish)
    one_to_one           image (base64 of a PNG/JPEG/…)                 label, probability
    one_to_many          image (base64)                                 caption
    many_to_many_synced  video (base64 of a video file) or path         labels (one per frame, comma-separated)
                         (a file the server can read)

An input the model cannot read (bad base64, not an image, not a video, an empty text) is answered 400 with the
reason; a missing column is refused by MLflow against the model's signature, also with a 400.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Callable

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from models.checkpoint import MODEL_FILE, Checkpoint, load_checkpoint

CHECKPOINT = "checkpoint"  # the pyfunc artifact that holds the checkpoint folder
ARTIFACT_PATH = "served_model"  # where a run keeps its pyfunc model, beside its checkpoint
MAX_VIDEO_FRAMES = 2000  # a request labels at most this many frames (80 s at 25 fps)

Answer = Callable[[pd.DataFrame], pd.DataFrame]


def bad_input(message: str) -> MlflowException:
    """An error MLflow's scoring server answers with 400 and this message."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def texts_of(frame: pd.DataFrame) -> list[str]:
    texts = frame["text"].tolist()
    for row, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise bad_input(f"row {row}: text must be a non-empty string, not {text!r:.40}")
    return texts


def decoded(value, row: int, column: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise bad_input(f"row {row}: {column} must be base64 (of the file's bytes)") from None


def images_of(frame: pd.DataFrame) -> list:
    from PIL import Image, UnidentifiedImageError

    images = []
    for row, value in enumerate(frame["image"].tolist()):
        try:
            image = Image.open(io.BytesIO(decoded(value, row, "image")))
            image.load()
        except (UnidentifiedImageError, OSError) as error:
            raise bad_input(f"row {row}: image is not an image Pillow can read ({error})") from None
        images.append(image)
    return images


def tweet_answers(checkpoint: Checkpoint) -> Answer:
    from models.many_to_one import TweetClassifier

    classifier = TweetClassifier.from_checkpoint(checkpoint)

    def answer(frame: pd.DataFrame) -> pd.DataFrame:
        probabilities = classifier.probabilities(texts_of(frame))
        labels = [classifier.labels[i] for i in classifier.label_ids(probabilities)]
        return pd.DataFrame(
            {
                "label": labels,
                **{
                    f"probability_{name}": probabilities[:, i].astype(np.float64)
                    for i, name in enumerate(classifier.labels)
                },
            }
        )

    return answer


def translation_answers(checkpoint: Checkpoint) -> Answer:
    from models.many_to_many import Translator, split_sentences

    translator = Translator.from_checkpoint(checkpoint)

    def answer(frame: pd.DataFrame) -> pd.DataFrame:
        # The model was trained on sentences: a paragraph is translated sentence by sentence, as the page does.
        sentences = [split_sentences(text) or [text] for text in texts_of(frame)]
        translated = iter(translator.translate([s for row in sentences for s in row]))
        return pd.DataFrame({"translation": [" ".join(next(translated).text for _ in row) for row in sentences]})

    return answer


def image_class_answers(checkpoint: Checkpoint) -> Answer:
    from models.one_to_one import preprocess_image

    labels = checkpoint.config.labels

    def answer(frame: pd.DataFrame) -> pd.DataFrame:
        pixels = torch.from_numpy(np.stack([preprocess_image(image) for image in images_of(frame)]))[:, None]
        probabilities = checkpoint.model.predict(pixels)
        best = probabilities.argmax(1)
        return pd.DataFrame(
            {"label": [labels[i] for i in best.tolist()], "probability": probabilities.max(1).values.double().numpy()}
        )

    return answer


def caption_answers(checkpoint: Checkpoint) -> Answer:
    from models.one_to_many import letterbox, to_tensor

    size = checkpoint.config.image_size

    def answer(frame: pd.DataFrame) -> pd.DataFrame:
        pixels = to_tensor(np.stack([letterbox(image, size) for image in images_of(frame)]))
        return pd.DataFrame({"caption": [" ".join(best[0].words) for best in checkpoint.model.caption(pixels)]})

    return answer


def video_answers(checkpoint: Checkpoint) -> Answer:
    from models.video import VideoError, decode_video

    labeller, labels = checkpoint.model, checkpoint.config.labels

    def frames_of(path: Path, row: int) -> np.ndarray:
        try:
            frames, _, _ = decode_video(path, frame_size=checkpoint.config.frame_size, max_frames=MAX_VIDEO_FRAMES)
        except VideoError as error:
            raise bad_input(f"row {row}: {error}") from None
        return frames

    def video_of(row: int, video, path) -> np.ndarray:
        if isinstance(video, str) and video:
            with tempfile.NamedTemporaryFile(suffix=".video") as file:
                file.write(decoded(video, row, "video"))
                file.flush()
                return frames_of(Path(file.name), row)
        if isinstance(path, str) and Path(path).is_file():
            return frames_of(Path(path), row)
        if isinstance(path, str):
            raise bad_input(f"row {row}: path {path!r:.80} is not a file the server can read")
        raise bad_input(f"row {row}: give video (base64 of a video file) or path (a file the server can read)")

    def answer(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.reindex(columns=["video", "path"]).itertuples(index=False)  # a missing column reads as NaN
        videos = [video_of(row, video, path) for row, (video, path) in enumerate(rows)]
        return pd.DataFrame(
            {"labels": [",".join(labels[i] for i in labeller.label_video(video).argmax(1)) for video in videos]}
        )

    return answer


INPUT_COLUMNS = {
    "many_to_one": ("text",),
    "many_to_many": ("text",),
    "one_to_one": ("image",),
    "one_to_many": ("image",),
    "many_to_many_synced": ("video", "path"),
}
ANSWERS: dict[str, Callable[[Checkpoint], Answer]] = {
    "many_to_one": tweet_answers,
    "many_to_many": translation_answers,
    "one_to_one": image_class_answers,
    "one_to_many": caption_answers,
    "many_to_many_synced": video_answers,
}


class ServedModel(mlflow.pyfunc.PythonModel):
    """A run's checkpoint answering requests with its topology's inference API (see the module's table)."""

    def load_context(self, context) -> None:
        checkpoint = load_checkpoint(Path(context.artifacts[CHECKPOINT]))
        self.answer = ANSWERS[checkpoint.topology](checkpoint)
        self.columns = INPUT_COLUMNS[checkpoint.topology]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if model_input.empty:
            raise bad_input(f"the request has no input: send rows with {' or '.join(self.columns)}")
        with torch.inference_mode():
            return self.answer(model_input)


def png_base64(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def clip_base64(frames: np.ndarray, fps: int = 25) -> str:
    """An MPEG-4 file of grayscale frames (T, H, W) uint8, as base64."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.stack([pixels] * 3, -1), format="rgb24")))
        container.mux(stream.encode())
    return base64.b64encode(buffer.getvalue()).decode()


def image_request() -> pd.DataFrame:
    square = np.zeros((64, 64, 3), np.uint8)
    square[16:48, 20:44] = (200, 60, 60)  # one garment-sized block on black, as the training images look
    return pd.DataFrame({"image": [png_base64(square)]})


def video_request() -> pd.DataFrame:
    """A bright block panning right over 12 frames: a clip that the synced labeller can label."""
    frames = np.zeros((12, 64, 64), np.uint8)
    for t in range(len(frames)):
        frames[t, 16:48, 4 + 2 * t : 28 + 2 * t] = 220
    return pd.DataFrame({"video": [clip_base64(frames)], "path": [None]}).astype({"path": "string"})


# A small request of each topology's kind: it shows callers the format and gives the signature its types.
EXAMPLE_REQUESTS = {
    "many_to_one": lambda: pd.DataFrame(
        {"text": ["What a lovely flight, thank you!", "My bag is lost again. Worst airline ever."]}
    ),
    "many_to_many": lambda: pd.DataFrame({"text": ["I like to read books.", "Where is the station? I am lost."]}),
    "one_to_one": image_request,
    "one_to_many": image_request,
    "many_to_many_synced": video_request,
}


def input_example(topology: str) -> pd.DataFrame:
    return EXAMPLE_REQUESTS[topology]()


def signature(topology: str, config: dict):
    """The model's input and output columns (the module's table), from its config alone: logging a model never
    needs to build it."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    columns = INPUT_COLUMNS[topology]
    # A video comes in either column of a row: a file sent with the request, or one on the server's disk.
    inputs = Schema([ColSpec("string", column, required=len(columns) == 1) for column in columns])
    outputs = {
        "many_to_one": [ColSpec("string", "label")]
        + [ColSpec("double", f"probability_{name}") for name in config.get("labels", ())],
        "many_to_many": [ColSpec("string", "translation")],
        "one_to_one": [ColSpec("string", "label"), ColSpec("double", "probability")],
        "one_to_many": [ColSpec("string", "caption")],
        "many_to_many_synced": [ColSpec("string", "labels")],
    }[topology]
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def save_served_model(checkpoint_dir: Path, destination: Path, requirements: Path) -> Path:
    """Write the pyfunc model of a checkpoint folder to ``destination``, with its signature, the topology's example
    request and the pip requirements of ``requirements`` (requirements.txt)."""
    description = json.loads((Path(checkpoint_dir) / MODEL_FILE).read_text())
    topology = description["topology"]
    # MLflow warns on every save that a pickled python_model runs code when loaded; ServedModel pickles as a
    # reference to this module, which the server imports anyway.
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(logging.ERROR)
    try:
        mlflow.pyfunc.save_model(
            str(destination),
            python_model=ServedModel(),
            artifacts={CHECKPOINT: str(checkpoint_dir)},
            signature=signature(topology, description["config"]),
            input_example=input_example(topology),
            pip_requirements=str(requirements),
        )
    finally:
        pyfunc_logger.setLevel(level)
    return destination
