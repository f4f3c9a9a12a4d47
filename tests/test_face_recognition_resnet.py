"""The Keras port of dlib's ResNet face descriptor against dlib itself.

Tolerance: both dlib and the port compute in float32, summing in different
orders, so they differ by rounding alone. A dot product of length K (at
most 256 x 3 x 3 = 2304 here) carries a relative rounding error of about
sqrt(K) * 2**-24 ~ 3e-6 (random-walk accumulation); over the 29 conv layers
that compounds to at most ~1e-4 of the activations' scale, and descriptor
components are below ~0.5 in size. Hence `ATOL = 1e-4` per component, which
holds whatever the summation order (SIMD width, thread split, oneDNN or
Eigen kernels). Measured: 2.7e-7 (dlib 20.0.1 vs TF 2.21 on a 2-core x86
box), the same size as the port's own float32-vs-float64 difference.
"""

import numpy as np
import pytest

dlib = pytest.importorskip("dlib")
face_recognition_models = pytest.importorskip("face_recognition_models")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ragan_tf.models import face_recognition_resnet as frr  # noqa: E402

ATOL = 1e-4


@pytest.fixture(scope="module")
def resnet():
    return frr.load_face_recognition_resnet()


@pytest.fixture(scope="module")
def dlib_recogniser():
    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


@pytest.fixture(scope="module")
def astronaut_chip():
    """skimage's astronaut cut as dlib cuts faces: HOG detector (its best hit; it also fires weakly on
    the suit), 5 landmarks, get_face_chip(150, 0.25)."""
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.astronaut()
    boxes, scores, _ = dlib.get_frontal_face_detector().run(image, 1)
    box = boxes[int(np.argmax(scores))]
    assert box.top() < 150  # the face, not the suit
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    return np.asarray(dlib.get_face_chip(image, predictor(image, box), 150, 0.25))


@pytest.fixture(scope="module")
def chips(astronaut_chip):
    """uint8 [3, 150, 150, 3]: the astronaut, a synthetic face rendered at 150 px, uniform noise."""
    from ragan_tf.data.synthetic_faces import render

    noise = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    return np.stack([astronaut_chip, render(3, 40.0, 150).image, noise])


def test_parser_reads_every_layer_of_the_file():
    network = frr.read_dlib_resnet()  # its speed (~40 ms) is measured by benchmarks/face_recognition_port.py
    names = [layer.name for layer in network.layers]
    assert len(names) == 108
    counts = {name: names.count(name) for name in set(names)}
    assert counts == {"con_4": 29, "affine_": 29, "relu_": 29, "add_prev_": 14,
                      "max_pool_2": 1, "avg_pool_2": 5, "fc_2": 1}
    assert network.loss == "loss_metric_2"
    assert network.loss_settings["distance_threshold"] == pytest.approx(0.6)
    assert network.input_size == (150, 150)
    assert network.input_means == pytest.approx(frr.DLIB_INPUT_MEANS)
    stem = network.layers[0]
    assert stem.arrays["filters"].shape == (32, 3, 7, 7) and stem.arrays["biases"].shape == (32,)
    assert stem.settings["stride"] == (2, 2) and stem.settings["padding"] == (0, 0)
    # dlib's default padding: 0 for strided layers, k // 2 otherwise.
    for layer in network.layers:
        if layer.name == "con_4":
            assert layer.settings["padding"][0] == frr.dlib_padding(layer.settings["nr"], layer.settings["stride"][0])
    assert network.layers[-1].arrays["weights"].shape == (256, 128)
    # The file's layers, strides and paddings are those the Keras model is built with.
    assert [layer.name for layer in network.layers] == [name for name, _ in frr.dlib_layer_sequence()]
    named = dict(network.named_arrays())
    assert named["con_28/filters"].shape == (256, 256, 3, 3) and named["affine_0/gamma"].shape == (32,)
    total = sum(array.size for array in named.values())
    assert total == 5_614_592


def test_bad_model_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(frr.FaceRecognitionModelError,
                       match=r"pip install 'ragan-tf\[faces\]' \(face-recognition-models\)"):
        frr.read_dlib_resnet(tmp_path / "missing.dat")
    truncated = tmp_path / "truncated.dat"
    with open(frr.default_model_path(), "rb") as file:
        truncated.write_bytes(file.read(100_000))
    with pytest.raises(frr.FaceRecognitionModelError, match="truncated.dat") as error:
        frr.read_dlib_resnet(truncated)
    assert "\n" not in str(error.value)


def test_port_matches_dlib_compute_face_descriptor(resnet, dlib_recogniser, chips):
    expected = np.array([np.asarray(dlib_recogniser.compute_face_descriptor(chip)) for chip in chips])
    got = resnet(chips.astype(np.float32)).numpy()
    assert got.shape == (3, 128) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    # The same-person decision between the chips is dlib's as well.
    for i in range(3):
        for j in range(i + 1, 3):
            assert (np.linalg.norm(got[i] - got[j]) < 0.6) == (np.linalg.norm(expected[i] - expected[j]) < 0.6)


def test_embedding_is_differentiable_at_64_px(resnet, chips):
    import cv2

    embedding = frr.FaceRecognitionEmbedding(resnet)
    assert embedding.threshold == 0.6
    small = np.stack([cv2.resize(chip, (64, 64), interpolation=cv2.INTER_AREA) for chip in chips[:2]])
    images = tf.Variable(small.astype(np.float32) / 127.5 - 1.0)
    with tf.GradientTape() as tape:
        descriptors = embedding(images)
        loss = keras.ops.sum(frr.FaceRecognitionEmbedding.distance(descriptors, tf.stop_gradient(descriptors[::-1])))
    gradient = tape.gradient(loss, images).numpy()
    assert descriptors.shape == (2, 128)
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
    assert np.abs(gradient[0]).max() > 0 and np.abs(gradient[1]).max() > 0
    # At 150 px the wrapper is the ResNet on (x + 1) * 127.5, nothing else.
    full = chips[:1].astype(np.float32)
    np.testing.assert_allclose(embedding(full / 127.5 - 1.0).numpy(), resnet(full).numpy(), atol=1e-5)


def test_images_of_the_wrong_shape_are_refused_in_one_line(resnet):
    with pytest.raises(frr.FaceRecognitionInputError, match=r"\[batch, 150, 150, 3\].*\(2, 64, 64, 3\)"):
        resnet(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(frr.FaceRecognitionInputError, match=r"\(1, 64, 48, 3\)"):
        frr.FaceRecognitionEmbedding(resnet)(np.zeros((1, 64, 48, 3), np.float32))


def test_model_config_round_trips(resnet):
    clone = frr.FaceRecognitionResNet.from_config(resnet.get_config())
    assert clone.input_means == resnet.input_means
    clone.build()
    assert len(clone.weights) == len(resnet.weights) == 117
