"""The serving contract: every SavedModel signature refuses a bad call with a message naming the
input (after `tf.saved_model.load`, as a client calls it), and valid calls still work.

The age transformer is `tiny_export` (conftest: a tiny RAGAN, exported with its TFLite model,
so the conversion is also checked with the contract's ops in the graph); the samplers are a
tiny encoder + conditional DCGAN (aging signatures plus a conditional `sample`) and a tiny
DCGAN (an unconditional `serving_default`), each exported once for this module. The calls run
with Grappler on (conftest turns it off for speed): it folds what it can prove from the
signature's static shapes, which is how users run the signatures.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ragan_tf.config import load_config, save_config
from ragan_tf.data.age_groups import age_group_weights, get_scheme
from ragan_tf.export import export_saved_model, load_run
from ragan_tf.export.serving import AgingFunctions
from ragan_tf.export.tflite import check_inputs
from ragan_tf.models.registry import get_family

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
SIZE = 32  # the tiny pipelines' image size
SCHEME = get_scheme("ffhq_aging")
ANCHORS = [float(age) for age in SCHEME.anchor_ages]


@pytest.fixture(scope="module", autouse=True)
def grappler_on():
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    yield
    tf.config.optimizer.set_experimental_options(previous)


def export_untrained(family, pipeline, folder):
    """A run folder holding an untrained `family` network (as `ragan-tf train` leaves one), exported."""
    run = folder / "run"
    config = load_config(PIPELINES / pipeline, [f"runtime.run_dir={run}"])
    network = get_family(family).build_inference_model(config)
    run.mkdir()
    network.save(run / "inference_model.keras")
    save_config(config, run / "config.yaml")
    return export_saved_model(run, folder / "export", verbose=False)


@pytest.fixture(scope="module")
def aging(tiny_export):
    return tf.saved_model.load(str(tiny_export)).signatures


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoder_cdcgan")
    return tf.saved_model.load(str(export_untrained("encoder_cdcgan", "encoder_cdcgan_synthetic_tiny.yaml",
                                                    folder))).signatures


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dcgan")
    return tf.saved_model.load(str(export_untrained("dcgan", "dcgan_synthetic_tiny.yaml", folder))).signatures


def noise_dim(signatures):
    return int(signatures["generate_from_noise"].structured_input_signature[1]["noise"].shape[1])


def uint8(*shape):
    return tf.zeros(shape, tf.uint8)


def floats(*shape, value=0.0):
    return tf.fill(shape, tf.constant(value, tf.float32))


def ints(*values):
    return tf.constant(values, tf.int32)


def ages(*values):
    return tf.constant(values, tf.float32)


def noise_rows(signatures, rows):
    return floats(rows, noise_dim(signatures))


def sampling(num_images, target_age=None, seed=0):
    """The inputs of a `sample` call (no `target_age`: an unconditional sampler's)."""
    age = {} if target_age is None else {"target_age": tf.constant(target_age, tf.float32)}
    return dict(seed=tf.constant(seed), num_images=tf.constant(num_images), **age)


# ------------------------------------------------------------------------------- bad calls
# (fixture, signature, inputs as f(signatures) -> dict, the message's text)
RANK = "Shape of tensor {} {} is not compatible with expected shape {}"
ONE_AGE_PER_IMAGE = "target_age must hold one age per image (the batch sizes must agree)"
AGE_RANGE = "target_age must be finite ages within 0-120 years; got"
MASK = "face_mask must be [B, H, W, 1] with the same B, H and W as image"
BAD_CALLS = {
    # serving_default (and with_face_mask, which shares its image and age checks)
    "rank-3 image": ("aging", "serving_default", lambda s: dict(image=uint8(32, 32, 3), target_age=ints(30)),
                     RANK.format("image", "[32,32,3]", "[?,?,?,3]")),
    "4-channel image": ("aging", "serving_default", lambda s: dict(image=uint8(1, 32, 32, 4), target_age=ints(30)),
                        RANK.format("image", "[1,32,32,4]", "[?,?,?,3]")),
    "2 images, 1 age": ("aging", "serving_default", lambda s: dict(image=uint8(2, 32, 32, 3), target_age=ints(30)),
                        f"{ONE_AGE_PER_IMAGE}; got target_age shape] [1] [and image shape] [2 32 32 3]"),
    "1 image, 3 ages": ("aging", "serving_default",
                        lambda s: dict(image=uint8(1, 32, 32, 3), target_age=ints(30, 40, 50)),
                        f"{ONE_AGE_PER_IMAGE}; got target_age shape] [3] [and image shape] [1 32 32 3]"),
    "empty batch": ("aging", "serving_default",
                    lambda s: dict(image=uint8(0, 32, 32, 3), target_age=tf.zeros([0], tf.int32)),
                    "image must be [B, H, W, 3] with B, H, W >= 1; got shape] [0 32 32 3]"),
    "image 0 px high": ("aging", "serving_default", lambda s: dict(image=uint8(1, 0, 32, 3), target_age=ints(30)),
                        "image must be [B, H, W, 3] with B, H, W >= 1; got shape] [1 0 32 3]"),
    "scalar age": ("aging", "serving_default",
                   lambda s: dict(image=uint8(1, 32, 32, 3), target_age=tf.constant(30, tf.int32)),
                   RANK.format("target_age", "[]", "[?]")),
    "negative age": ("aging", "serving_default", lambda s: dict(image=uint8(1, 32, 32, 3), target_age=ints(-1)),
                     f"{AGE_RANGE}] [-1]"),
    "age over 120": ("aging", "serving_default", lambda s: dict(image=uint8(2, 32, 32, 3), target_age=ints(40, 121)),
                     f"{AGE_RANGE}] [40 121]"),
    "3-channel mask": ("aging", "with_face_mask",
                       lambda s: dict(image=uint8(1, 32, 32, 3), face_mask=floats(1, 32, 32, 3), target_age=ints(30)),
                       RANK.format("face_mask", "[1,32,32,3]", "[?,?,?,1]")),
    "rank-3 mask": ("aging", "with_face_mask",
                    lambda s: dict(image=uint8(1, 32, 32, 3), face_mask=floats(32, 32, 1), target_age=ints(30)),
                    RANK.format("face_mask", "[32,32,1]", "[?,?,?,1]")),
    "mask of another size": ("aging", "with_face_mask",
                             lambda s: dict(image=uint8(1, 32, 32, 3), face_mask=floats(1, 16, 16, 1),
                                            target_age=ints(30)),
                             f"{MASK}; got face_mask shape] [1 16 16 1] [and image shape] [1 32 32 3]"),
    "fewer masks than images": ("aging", "with_face_mask",
                                lambda s: dict(image=uint8(2, 32, 32, 3), face_mask=floats(1, 32, 32, 1),
                                               target_age=ints(30, 40)),
                                f"{MASK}; got face_mask shape] [1 32 32 1] [and image shape] [2 32 32 3]"),
    "mask call, 2 images, 1 age": ("aging", "with_face_mask",
                                   lambda s: dict(image=uint8(2, 32, 32, 3), face_mask=floats(2, 32, 32, 1),
                                                  target_age=ints(30)),
                                   ONE_AGE_PER_IMAGE),
    # age_progression
    "batched image to age_progression": ("aging", "age_progression", lambda s: dict(image=uint8(1, 32, 32, 3)),
                                         RANK.format("image", "[1,32,32,3]", "[?,?,3]")),
    "empty image to age_progression": ("aging", "age_progression", lambda s: dict(image=uint8(0, 32, 3)),
                                       "image must be [H, W, 3] with H, W >= 1; got shape] [0 32 3]"),
    # generate
    "generate at the wrong size": ("aging", "generate",
                                   lambda s: dict(image=floats(1, 64, 64, 3), face_mask=floats(1, 64, 64, 1),
                                                  target_age=ages(30)),
                                   RANK.format("image", "[1,64,64,3]", "[?,32,32,3]")),
    "generate, mask at the wrong size": ("aging", "generate",
                                         lambda s: dict(image=floats(1, 32, 32, 3), face_mask=floats(1, 64, 64, 1),
                                                        target_age=ages(30)),
                                         f"{MASK}; got face_mask shape] [1 64 64 1] [and image shape] [1 32 32 3]"),
    "generate, NaN age": ("aging", "generate",
                          lambda s: dict(image=floats(1, 32, 32, 3), face_mask=floats(1, 32, 32, 1),
                                         target_age=ages(np.nan)),
                          f"{AGE_RANGE}] [nan]"),
    "generate, infinite age": ("aging", "generate",
                               lambda s: dict(image=floats(1, 32, 32, 3), face_mask=floats(1, 32, 32, 1),
                                              target_age=ages(np.inf)),
                               f"{AGE_RANGE}] [inf]"),
    "generate, 2 images, 1 age": ("aging", "generate",
                                  lambda s: dict(image=floats(2, 32, 32, 3), face_mask=floats(2, 32, 32, 1),
                                                 target_age=ages(30)),
                                  ONE_AGE_PER_IMAGE),
    "generate, fewer masks than images": ("aging", "generate",
                                          lambda s: dict(image=floats(2, 32, 32, 3), face_mask=floats(1, 32, 32, 1),
                                                         target_age=ages(30, 40)),
                                          MASK),
    "generate, empty batch": ("aging", "generate",
                              lambda s: dict(image=floats(0, 32, 32, 3), face_mask=floats(0, 32, 32, 1),
                                             target_age=tf.zeros([0], tf.float32)),
                              "image must be [B, H, W, 3] with B, H, W >= 1; got shape] [0 32 32 3]"),
    "float image to a uint8 signature": ("aging", "serving_default",
                                         lambda s: dict(image=floats(1, 32, 32, 3), target_age=ints(30)),
                                         "input #0(zero-based) was expected to be a uint8 tensor"),
    # samplers: sample (conditional) and serving_default (unconditional)
    "no images to sample": ("conditional", "sample",
                            lambda s: sampling(0, 30.0),
                            "num_images must be >= 1; got] [0]"),
    "negative num_images": ("unconditional", "serving_default",
                            lambda s: sampling(-2),
                            "num_images must be >= 1; got] [-2]"),
    "sample, NaN age": ("conditional", "sample",
                        lambda s: sampling(2, np.nan),
                        f"{AGE_RANGE}] [nan]"),
    "sample, age over 120": ("conditional", "sample",
                             lambda s: sampling(2, 200.0),
                             f"{AGE_RANGE}] [200]"),
    "sample, a vector of ages": ("conditional", "sample",
                                 lambda s: sampling(2, [30.0, 40.0]),
                                 RANK.format("target_age", "[2]", "[]")),
    # generate_from_noise
    "noise of the wrong width": ("conditional", "generate_from_noise",
                                 lambda s: dict(noise=floats(2, 3), target_age=ages(30, 40)),
                                 "Shape of tensor noise [2,3] is not compatible with expected shape [?,"),
    "empty noise batch": ("unconditional", "generate_from_noise", lambda s: dict(noise=noise_rows(s, 0)),
                          "noise must be [B, "),
    "2 noise rows, 1 age": ("conditional", "generate_from_noise",
                            lambda s: dict(noise=noise_rows(s, 2), target_age=ages(30)),
                            "target_age must hold one age per noise row (the batch sizes must agree); "
                            "got target_age shape] [1] [and noise shape] [2 "),
    "noise, NaN age": ("conditional", "generate_from_noise",
                       lambda s: dict(noise=noise_rows(s, 1), target_age=ages(np.nan)),
                       f"{AGE_RANGE}] [nan]"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_a_bad_call_is_refused_naming_the_input(case, request):
    fixture, name, inputs, message = BAD_CALLS[case]
    signatures = request.getfixturevalue(fixture)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        signatures[name](**inputs(signatures))


# ------------------------------------------------------------------------------ valid calls
def uint8_faces(count):
    images, masks, _ = check_inputs(SIZE, count)
    return np.round((images + 1) * 127.5).astype(np.uint8), masks


def test_serving_default_ages_any_size_and_the_ends_of_the_age_range(aging):
    images, _ = uint8_faces(3)
    aged = aging["serving_default"](image=tf.constant(images), target_age=ints(0, 60, 120))["aged_image"]
    assert aged.shape == (3, SIZE, SIZE, 3) and aged.dtype == tf.uint8
    big = aging["serving_default"](image=uint8(2, 50, 70, 3), target_age=ints(20, 70))["aged_image"]
    assert big.shape == (2, 50, 70, 3)


def test_with_face_mask_takes_one_crop_at_several_ages_as_the_age_command_calls_it(aging):
    images, masks = uint8_faces(1)
    count = 4
    aged = aging["with_face_mask"](image=tf.constant(np.repeat(images, count, 0)),
                                   face_mask=tf.constant(np.repeat(masks, count, 0)),
                                   target_age=ints(5, 20, 40, 70))["aged_image"].numpy()
    assert aged.shape == (count, SIZE, SIZE, 3)
    assert len({aged[index].tobytes() for index in range(count)}) == count


def test_age_progression_still_returns_every_group(aging):
    images, _ = uint8_faces(1)
    result = aging["age_progression"](image=tf.constant(images[0]))
    assert result["aged_images"].shape == (SCHEME.num_groups, SIZE, SIZE, 3)
    np.testing.assert_allclose(result["anchor_ages"].numpy(), ANCHORS)


def test_generate_matches_the_in_memory_generator_as_the_evaluation_calls_it(aging, tiny_run):
    _, generator = load_run(tiny_run)
    images, masks, _ = check_inputs(SIZE, count=3)
    groups = np.array([0, 5, 9])
    got = aging["generate"](image=tf.constant(images), face_mask=tf.constant(masks),
                            target_age=tf.constant(SCHEME.anchor_ages[groups]))["aged_image"].numpy()
    expected = generator(images, masks, ops.one_hot(groups, SCHEME.num_groups), training=False)
    np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5)


def test_the_checks_change_no_value(tiny_run):
    # The same graph with and without the contract's checks: bit for bit the same image.
    _, generator = load_run(tiny_run)
    functions = AgingFunctions(generator, SCHEME)
    images, masks, _ = check_inputs(SIZE, count=2)
    inputs = (tf.constant(images), tf.constant(masks), ages(12.0, 64.0))
    checked = tf.function(functions.generate)(*inputs)["aged_image"]
    unchecked = tf.function(lambda image, mask, age: generator(image, mask, age_group_weights(age, ANCHORS),
                                                               training=False))(*inputs)
    np.testing.assert_array_equal(checked.numpy(), np.asarray(unchecked))


def test_sample_is_seeded_and_takes_any_age_in_range(conditional):
    first = conditional["sample"](**sampling(2, 0.0, seed=3))["images"]
    again = conditional["sample"](**sampling(2, 0.0, seed=3))["images"]
    assert first.shape == (2, SIZE, SIZE, 3) and first.dtype == tf.uint8
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    oldest = conditional["sample"](**sampling(1, 120.0))["images"]
    assert oldest.shape == (1, SIZE, SIZE, 3)


def test_unconditional_serving_default_samples(unconditional):
    images = unconditional["serving_default"](**sampling(1))["images"]
    assert images.shape == (1, SIZE, SIZE, 3) and images.dtype == tf.uint8


def test_generate_from_noise_as_the_evaluation_calls_it(conditional, unconditional):
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3, noise_dim(conditional))).astype(np.float32)
    images = conditional["generate_from_noise"](noise=tf.constant(rows),
                                                target_age=tf.constant(SCHEME.anchor_ages[[0, 4, 9]]))["images"]
    assert images.shape == (3, SIZE, SIZE, 3) and np.isfinite(images.numpy()).all()
    plain = unconditional["generate_from_noise"](noise=noise_rows(unconditional, 2))["images"]
    assert plain.shape == (2, SIZE, SIZE, 3)
