"""The one-to-one models: shapes, determinism, save/load, and the upload preprocessing."""

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.one_to_one import ARCHITECTURES, Config, build_model, preprocess_image


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_forward_shapes_and_loss(arch):
    model = build_model(Config(arch=arch))
    images, labels = torch.rand(5, 1, 28, 28), torch.randint(0, 10, (5,))
    logits, loss = model(images, labels)
    assert logits.shape == (5, 10)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model(images)[1] is None
    probabilities = model.predict(images)
    assert torch.allclose(probabilities.sum(-1), torch.ones(5), atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_same_seed_same_model(arch):
    torch.manual_seed(3)
    first = build_model(Config(arch=arch)).eval()
    torch.manual_seed(3)
    second = build_model(Config(arch=arch)).eval()
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(first(images)[0], second(images)[0])


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model(Config(arch="transformer"))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_save_load_round_trip(tmp_path, arch):
    model = build_model(Config(arch=arch, labels=("a", "b", "c"))).eval()
    save_checkpoint(tmp_path / "ckpt", "one_to_one", model.config, model, meta={"note": "x"})
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == model.config  # tuples survive the JSON round trip
    images = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.model(images)[0], model(images)[0])
    assert not loaded.model.training


def test_corrupt_weights_raise_checkpoint_error(tmp_path):
    model = build_model(Config(arch="mlp"))
    folder = save_checkpoint(tmp_path / "ckpt", "one_to_one", model.config, model)
    (folder / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(folder)


def test_preprocess_inverts_light_background_and_crops():
    canvas = np.full((200, 300), 255, dtype=np.uint8)  # white paper
    canvas[50:150, 100:140] = 20  # a dark, tall garment off-centre
    pixels = preprocess_image(Image.fromarray(canvas).convert("RGB"))
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert 0 <= pixels.min() and pixels.max() <= 1
    assert pixels[14, 14] > 0.9  # the garment is bright and centred
    assert pixels[14, 0] < 0.1 and pixels[14, 27] < 0.1  # padded left and right of a tall object
    assert pixels[0, 14] > 0.9  # cropped to the object: it reaches the top edge


def test_preprocess_keeps_fashion_mnist_like_input():
    canvas = np.zeros((28, 28), dtype=np.uint8)
    canvas[2:26, 6:22] = 200
    pixels = preprocess_image(Image.fromarray(canvas))
    assert pixels[14, 14] > 0.9 and pixels[14, 1] < 0.1


def test_preprocess_blank_image_does_not_crash():
    pixels = preprocess_image(Image.new("RGB", (40, 40), "white"))
    assert pixels.shape == (28, 28) and np.all(np.isfinite(pixels))
