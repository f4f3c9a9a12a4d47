"""InceptionV3 pool features for FID and KID.

FID and KID are only comparable with published numbers when the features
come from the ImageNet-trained InceptionV3. No pip package ships those
weights, and this package never downloads anything behind the user's back:
the weights come from a local file, or from Keras's own download
(`~/.keras/models/`, or `$KERAS_HOME/models/`) when the user allows it and
is online. Random weights (`weights=None`) exist for tests and smoke runs;
`InceptionFeatures.random_weights` flags them so that reports can mark such
numbers as not comparable.

Example:
    >>> import numpy as np
    >>> extractor = InceptionFeatures(weights=None, input_size=75)  # random weights, small and fast
    >>> extractor(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 2048)

Fetching the weights by hand (for an offline machine), then passing the path:

    curl -L -o inception_v3_notop.h5 \\
        https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5
"""

import os

import numpy as np

from ragan_tf.config import ConfigError
from ragan_tf.errors import RaganError

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + WEIGHTS_FILE
WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # the file_hash Keras checks for this file
FEATURE_DIM = 2048
DEFAULT_INPUT_SIZE = 299
MIN_INPUT_SIZE = 75  # the smallest input keras.applications.InceptionV3 accepts


class InceptionWeightsUnavailable(RaganError, FileNotFoundError):
    """The ImageNet weights are neither cached nor allowed to be downloaded."""


def keras_cache_dirs():
    """Folders where `keras.utils.get_file(..., cache_subdir="models")` keeps downloads, in the order it uses them.

    `$KERAS_HOME/models` (default `~/.keras/models`), and `/tmp/.keras/models`,
    Keras's fallback when the home folder is not writable.
    """
    import keras

    return [os.path.join(os.path.expanduser(keras.config.keras_home()), "models"),
            os.path.join("/tmp", ".keras", "models")]


def cached_weights_path():
    """Path of the cached InceptionV3 ImageNet (no top) weights file, or None when it is not cached."""
    for folder in keras_cache_dirs():
        path = os.path.join(folder, WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    return None


def _unavailable_message():
    target = os.path.join(keras_cache_dirs()[0], WEIGHTS_FILE)
    return (
        "The InceptionV3 ImageNet weights (needed for comparable FID/KID) are not in the Keras cache "
        f"({target}), and downloading is off. Either pass allow_download=True (on the command line: "
        "--allow-download) to let Keras download them once, or pass a local weights file as weights=PATH "
        "(--fid-weights PATH). "
        f"To fetch the file by hand: curl -L --create-dirs -o {target} {WEIGHTS_URL} "
        f"(md5 {WEIGHTS_MD5}). weights=None uses random weights: numbers not comparable with anything else."
    )


def resolve_weights(weights, allow_download=False):
    """The local weights file for `weights` (None for random weights), downloading only when allowed.

    Args:
        weights: `"imagenet"`, a path to a `.h5` / `.weights.h5` file, or None.
        allow_download: whether `"imagenet"` may be downloaded by Keras
            when it is not cached. A download prints one line saying what
            it fetches and where.

    Raises:
        InceptionWeightsUnavailable: `"imagenet"` is not cached and
            `allow_download` is False.
        FileNotFoundError: the weights path does not exist.
        ValueError: the path is not an `.h5` file.
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        cached = cached_weights_path()
        if cached is not None:
            return cached
        if not allow_download:
            raise InceptionWeightsUnavailable(_unavailable_message())
        import keras

        print(f"Downloading the InceptionV3 ImageNet weights (no top) from {WEIGHTS_URL} "
              f"to {keras_cache_dirs()[0]}/ (Keras caches them; later runs reuse the file).", flush=True)
        return keras.utils.get_file(WEIGHTS_FILE, WEIGHTS_URL, cache_subdir="models", file_hash=WEIGHTS_MD5)
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"InceptionV3 weights file not found: {path}. {_unavailable_message()}")
    if not path.endswith(".h5"):
        raise ConfigError(f"InceptionV3 weights must be a Keras .h5 or .weights.h5 file; got {path}.")
    return path


class InceptionFeatures:
    """2048-d InceptionV3 pool features of images, for `image_metrics.fid` / `kid`.

    Wraps `keras.applications.InceptionV3(include_top=False, pooling="avg")`.
    Images of any size are resized to `input_size` (bilinear, no
    antialiasing, as the usual TF FID code does) and scaled with
    `keras.applications.inception_v3.preprocess_input`.

    Args:
        weights: `"imagenet"` (the Keras cache, or Keras's download when
            `allow_download`), a local `.h5` (the Keras ImageNet file) or
            `.weights.h5` file of the same architecture, or None for random
            weights (tests only: `random_weights` is True and the numbers
            are not comparable with anything).
        batch_size: images per forward pass.
        input_size: the side images are resized to; 299 for standard FID,
            down to 75 for fast tests.
        allow_download: let Keras download the ImageNet weights when they
            are not cached (prints one line naming the file and folder).
            When False and they are not cached, `InceptionWeightsUnavailable`
            says how to get them.

    Raises:
        InceptionWeightsUnavailable, FileNotFoundError, ValueError: see
            `resolve_weights`; ValueError also for `input_size` < 75.

    Example:
        >>> extractor = InceptionFeatures(weights=None, input_size=75)
        >>> extractor.random_weights
        True
        >>> features = extractor(np.zeros((3, 40, 50, 3), np.uint8))  # [3, 2048] float64
    """

    def __init__(self, weights="imagenet", batch_size=50, input_size=DEFAULT_INPUT_SIZE, allow_download=False):
        if int(input_size) < MIN_INPUT_SIZE:
            raise ValueError(f"InceptionV3 needs input_size >= {MIN_INPUT_SIZE}; got {input_size}.")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        self.batch_size = int(batch_size)
        self.input_size = int(input_size)
        self.weights_path = resolve_weights(weights, allow_download)

        import keras

        self.model = keras.applications.InceptionV3(
            include_top=False, pooling="avg", weights=None, input_shape=(self.input_size, self.input_size, 3)
        )
        if self.weights_path is not None:
            self.model.load_weights(self.weights_path)

    @property
    def random_weights(self):
        """True when the network has random weights: its FID/KID are not comparable with anything."""
        return self.weights_path is None

    @property
    def description(self):
        """One line for reports: input size and where the weights came from."""
        source = "RANDOM weights (not comparable)" if self.random_weights else f"weights {self.weights_path}"
        return f"InceptionV3 pool features, {self.input_size} px, {source}"

    def __call__(self, images, value_range=(0.0, 255.0)):
        """Features of a batch of images.

        Args:
            images: `[N, H, W, 3]` (or `[N, H, W, 1]` / `[N, H, W]`
                grayscale, repeated to RGB), RGB. uint8 images are taken as
                0-255; float images as spanning `value_range`.
            value_range: `(low, high)` of float images, e.g. `(-1, 1)` for
                generator outputs. Ignored for uint8.

        Returns:
            `[N, 2048]` float64.
        """
        import keras
        import tensorflow as tf

        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"Images must be [N, H, W, 3] (or grayscale [N, H, W(, 1)]); got shape {images.shape}.")
        if images.shape[0] == 0:
            return np.zeros((0, FEATURE_DIM))
        if images.dtype == np.uint8:
            low, high = 0.0, 255.0
        else:
            low, high = (float(v) for v in value_range)
            if not high > low:
                raise ValueError(f"value_range must be (low, high) with high > low; got {value_range}.")
        outputs = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size].astype(np.float32)
            batch = (batch - low) * np.float32(255.0 / (high - low))
            if batch.shape[-1] == 1:
                batch = np.repeat(batch, 3, axis=-1)
            batch = tf.convert_to_tensor(batch)
            if batch.shape[1:3] != (self.input_size, self.input_size):
                batch = tf.image.resize(batch, (self.input_size, self.input_size), method="bilinear")
            batch = keras.applications.inception_v3.preprocess_input(batch)
            outputs.append(np.asarray(self.model(batch, training=False), np.float64))
        return np.concatenate(outputs, axis=0)
