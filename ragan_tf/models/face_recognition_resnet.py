"""dlib's ResNet face descriptor as a differentiable Keras 3 model, weights read from dlib's .dat file.

dlib's `dlib_face_recognition_resnet_model_v1` maps an aligned 150 x 150
face chip to a 128-d descriptor; two faces whose descriptors are closer than
0.6 (Euclidean) are judged the same person (99.38% on LFW with jittering,
99.13% without). dlib runs it in C++; this module rebuilds the same network
in Keras so its output can be differentiated with respect to the image (an
identity loss such as ``||FR(x) - FR(G(z))||`` for Age-cGAN's latent
optimisation).

- `read_dlib_resnet`: parses the .dat file (dlib's serialisation of the
  whole network) into its layers and their numpy arrays. Tensors are stored
  as raw little-endian float32 (`tensor.h`, version 2), so parsing is a few
  `np.frombuffer` views: ~40 ms for the 22 MB file, so nothing is cached.
- `FaceRecognitionResNet`: the network, [B, 150, 150, 3] float32 RGB in
  0..255 (dlib's input convention) -> [B, 128].
- `load_face_recognition_resnet`: builds it with the file's weights (default:
  the `face-recognition-models` package's copy).
- `FaceRecognitionEmbedding`: images in the model range [-1, 1], any square
  size, already aligned like a dlib chip -> bilinear resize to 150 ->
  0..255 -> the ResNet; gradients flow to the input.

What the port follows, read from dlib's source (davisking/dlib):
`examples/dnn_face_recognition_ex.cpp` and `tools/python/src/face_recognition.cpp`
(the network, ``anet_type``), `dlib/dnn/layers.h` (`con_`, `affine_`,
`max_pool_`, `avg_pool_`, `add_prev_`, `fc_`: forward passes, default padding
``stride != 1 ? 0 : k / 2``, serialisation), `dlib/dnn/input.h`
(`input_rgb_image_sized`: planes R, G, B, each ``(pixel - mean) / 256``),
`dlib/dnn/core.h` (`add_layer` / `add_tag_layer` / `add_loss_layer`
serialisation: every layer's version first, outermost first, then the input
layer, then each layer's details from the input outwards), `dlib/dnn/loss.h`
(`loss_metric_::to_label` copies the fc output: no normalisation),
`dlib/cuda/tensor.h` (formerly `dlib/dnn/tensor.h`: tensor and alias-tensor
formats), `dlib/serialize.h` (integers: a control
byte, low nibble = byte count, 0x80 = negative, then little-endian bytes;
strings: length then bytes; floats: mantissa and exponent integers; bools:
ASCII '0' / '1'), `dlib/cuda/cpu_dlib.cpp` (`img2col`: cross-correlation
with output side ``1 + (n + 2 p - k) / s``; `add`: tensors of different
shapes are added as if the smaller were zero-padded at the end of every
axis). The Python binding's `compute_face_descriptor` casts that output to
double and returns it.

The network (input first; ``ares`` = relu(x + block(x)), ``ares_down`` =
relu(avg_pool_2x2(x) + block_stride2(x)), block = affine(con3x3(relu(affine(
con3x3_stride(x))))), ``affine`` = per-channel scale and shift, batch norm
frozen): con 7x7/2 (32) -> affine -> relu -> max_pool 3x3/2 -> 3 ares(32) ->
ares_down(64), 3 ares(64) -> ares_down(128), 2 ares(128) -> ares_down(256),
2 ares(256) -> ares_down(256) -> mean over space -> fc 256 -> 128, no bias.
Spatial sides: 150 -> 72 (con) -> 35 (max_pool), then 35, 17, 8, 4, 2 at
the five levels. In the last two down blocks the strided branch is smaller
than the pooled skip (3 x 3 against 4 x 4, then 1 x 1 against 2 x 2): dlib
adds them as if zero-padded at the bottom and right (and the skip's missing
channels count as zero), and so does `zero_padded_add` here. Every down
block doubles the channels except the last (256 -> 256).

Agreement with dlib 20.0.1's `compute_face_descriptor` (float32 both;
`benchmarks/face_recognition_port.py` on 248 chips: the astronaut, 47
synthetic faces, 200 UTKFace photos; TF 2.21 on a shared 2-core x86 box):
max |port - dlib| 4.9e-7 per component (mean 7e-8; components are ~0.1 in
size), at most 1.6e-6 between the two descriptors of a face, and all 30,628
pair decisions at 0.6 the same. That is rounding alone: each float32
implementation is ~3e-7 from the port run in float64. Speed (two runs):
19-21 ms per face for the port in batches of 16, 127-143 ms for dlib
(dlib-bin is built without BLAS).

Licence: the model file is Davis King's, released into the public domain
("anyone can do whatever they want with these model files", dlib-models
README); it was trained on FaceScrub, VGG-Face and scraped images, whose own
terms are theirs. dlib's code is under the Boost Software License; nothing
of it is copied here, only its file format and arithmetic are reimplemented.

Example:
```python
resnet = load_face_recognition_resnet()                 # FaceRecognitionResNet, dlib's weights
descriptors = resnet(chips_uint8.astype("float32"))     # [B, 128], like compute_face_descriptor
embed = FaceRecognitionEmbedding(resnet)
distance = FaceRecognitionEmbedding.distance(embed(x), embed(g_z))  # differentiable, same person < 0.6
```
"""

import os
from typing import NamedTuple

import keras
import numpy as np

from ragan_tf.errors import RaganError, install_command

THRESHOLD = 0.6  # dlib's same-person distance (Euclidean, between descriptors)
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128
# dlib's input_rgb_image_sized subtracts these (as stored in the .dat file) and divides by 256.
DLIB_INPUT_MEANS = (122.78199768066406, 117.0009994506836, 104.2979965209961)
# (filters, down-sampling first block, plain blocks after it), input first: alevel4 .. alevel0.
LEVELS = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))

_INPUT_LAYER = b"input_rgb_image_sized"


class FaceRecognitionModelError(RaganError):
    """dlib's face recognition model file is missing or is not the ResNet this module ports."""


class FaceRecognitionInputError(RaganError, ValueError):
    """Images of a shape the face descriptor cannot take."""


def _check_images(shape, square_size=None):
    """Refuses image batches that are not [B, S, S, 3] (S = `square_size` when given)."""
    shape = tuple(shape)
    ok = len(shape) == 4 and shape[3] == 3 and (shape[1] is None or shape[2] is None or shape[1] == shape[2])
    if ok and square_size is not None:
        ok = shape[1] in (None, square_size) and shape[2] in (None, square_size)
    if not ok:
        side = square_size if square_size is not None else "S"
        raise FaceRecognitionInputError(
            f"face images must be a [batch, {side}, {side}, 3] RGB batch; got shape {shape}."
        )


# ---------------------------------------------------------------------------
# Reading dlib's .dat file
# ---------------------------------------------------------------------------


class DlibLayer(NamedTuple):
    """One computational layer of a dlib network: its serialised name ("con_4", "affine_", ...),
    its integer settings (filter sizes, strides, paddings) and its parameter arrays (float32)."""

    name: str
    settings: dict
    arrays: dict


class DlibNetwork(NamedTuple):
    """A parsed dlib network file: the loss layer's name and settings, the input layer's
    per-channel means (R, G, B) and size, and the layers from the input to the output."""

    loss: str
    loss_settings: dict
    input_means: tuple
    input_size: tuple
    layers: list

    def named_arrays(self):
        """[(name, float32 array)] of every parameter in dlib's own layouts, input first:
        "con_0/filters" [num_filters, k, nr, nc], "con_0/biases" [num_filters],
        "affine_0/gamma" / "affine_0/beta" [k], "fc_0/weights" [num_inputs, num_outputs]."""
        counts, named = {}, []
        for layer in self.layers:
            kind = layer.name.rstrip("_0123456789")
            index = counts[kind] = counts.get(kind, -1) + 1
            named += [(f"{kind}_{index}/{key}", array) for key, array in layer.arrays.items()]
        return named


class _Reader:
    """dlib's serialize.h primitives over a bytes object."""

    def __init__(self, data, path):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, what):
        raise FaceRecognitionModelError(
            f"{self.path} is not a dlib face recognition ResNet file: {what} at byte {self.pos}."
        )

    def integer(self):
        if self.pos >= len(self.data):
            self.fail("unexpected end of file")
        control = self.data[self.pos]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            self.fail(f"bad integer control byte {control:#04x}")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def string(self):
        size = self.integer()
        text = self.data[self.pos : self.pos + size]
        self.pos += size
        return text.decode("latin-1")

    def real(self):
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def boolean(self):
        value = self.data[self.pos : self.pos + 1]
        if value not in (b"0", b"1"):
            self.fail("bad bool")
        self.pos += 1
        return value == b"1"

    def tensor(self):
        if self.integer() != 2:
            self.fail("unknown tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            self.fail("tensor past the end of the file")
        array = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32).reshape(shape)
        self.pos += 4 * count
        return array

    def alias_tensor(self):
        if self.integer() != 1:
            self.fail("unknown alias_tensor version")
        return tuple(self.integer() for _ in range(4))


def _read_layer(reader):
    """One layer's details (layers.h `serialize(const X_&)`), parameters split as dlib aliases them."""
    name = reader.string()
    settings, arrays = {}, {}
    if name in ("con_4", "con_5"):
        params = reader.tensor().reshape(-1)
        settings["num_filters"] = reader.integer()
        settings["nr"], settings["nc"] = reader.integer(), reader.integer()
        settings["stride"] = (reader.integer(), reader.integer())
        settings["padding"] = (reader.integer(), reader.integer())
        filters, biases = reader.alias_tensor(), reader.alias_tensor()
        [reader.real() for _ in range(4)]  # learning-rate and weight-decay multipliers
        use_bias = reader.boolean() if name == "con_5" else True
        size = int(np.prod(filters))
        arrays["filters"] = params[:size].reshape(filters)
        if use_bias:
            arrays["biases"] = params[size : size + int(np.prod(biases))]
    elif name == "affine_":
        params = reader.tensor().reshape(-1)
        gamma, beta = reader.alias_tensor(), reader.alias_tensor()
        settings["mode"] = reader.integer()  # 0: CONV_MODE (per channel), 1: FC_MODE
        if settings["mode"] != 0:
            reader.fail("an fc-mode affine layer")
        size = int(np.prod(gamma))
        arrays["gamma"], arrays["beta"] = params[:size], params[size : size + int(np.prod(beta))]
    elif name in ("max_pool_2", "avg_pool_2"):
        settings["nr"], settings["nc"] = reader.integer(), reader.integer()
        settings["stride"] = (reader.integer(), reader.integer())
        settings["padding"] = (reader.integer(), reader.integer())
    elif name == "fc_2":
        settings["num_outputs"], settings["num_inputs"] = reader.integer(), reader.integer()
        params = reader.tensor().reshape(-1)
        weights, biases = reader.alias_tensor(), reader.alias_tensor()
        settings["bias_mode"] = reader.integer()  # 0: FC_HAS_BIAS, 1: FC_NO_BIAS
        [reader.real() for _ in range(4)]
        size = int(np.prod(weights))
        arrays["weights"] = params[:size].reshape(weights[0], weights[1])
        if settings["bias_mode"] == 0:
            arrays["biases"] = params[size : size + int(np.prod(biases))]
    elif name not in ("relu_", "add_prev_"):
        reader.fail(f"unsupported layer {name!r}")
    return DlibLayer(name, settings, arrays)


def read_dlib_resnet(path=None) -> DlibNetwork:
    """Parses a dlib DNN file holding a loss layer over a stack on `input_rgb_image_sized`.

    `path` defaults to the `face-recognition-models` package's
    `dlib_face_recognition_resnet_model_v1.dat`. The whole file must be
    consumed; anything unexpected raises `FaceRecognitionModelError` naming
    the file and the byte. Tag and skip layers hold no data and are not
    listed; the structure comes from the network definition.

    Example:
    ```python
    network = read_dlib_resnet()
    len(network.layers), network.layers[0].name   # (108, 'con_4')
    ```
    """
    path = default_model_path() if path is None else os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise FaceRecognitionModelError(
            f"dlib's face recognition model {path} does not exist; "
            f"install it with {install_command('faces')} (face-recognition-models) or pass the .dat file's path."
        ) from None
    reader = _Reader(data, path)
    if reader.integer() != 1:
        reader.fail("unknown add_loss_layer version")
    loss = reader.string()
    loss_settings = {}
    if loss == "loss_metric_2":
        loss_settings = {"margin": reader.real(), "distance_threshold": reader.real()}
    elif loss != "loss_metric_":
        reader.fail(f"unsupported loss {loss!r}")
    # The versions of every add_layer (2), tag / skip layer (1) and the input's add_layer (2 or 3),
    # outermost first, then the input layer itself.
    versions = []
    while data[reader.pos + 2 : reader.pos + 2 + len(_INPUT_LAYER)] != _INPUT_LAYER:
        versions.append(reader.integer())
        if len(versions) > 10_000:
            reader.fail("no input_rgb_image_sized layer")
    if reader.string() != _INPUT_LAYER.decode():
        reader.fail("bad input layer")
    input_means = tuple(reader.real() for _ in range(3))
    input_size = (reader.integer(), reader.integer())
    layers = []
    while reader.pos < len(data):
        layers.append(_read_layer(reader))
        [reader.boolean() for _ in range(3)]  # setup called, gradient stale, outputs disabled
        [reader.tensor() for _ in range(3)]  # x_grad, cached_output, params_grad / grad_final
        if len(layers) == 1 and versions[-1] == 3:
            reader.integer()  # _sample_expansion_factor
    if reader.pos != len(data):
        reader.fail("trailing data")
    return DlibNetwork(loss, loss_settings, input_means, input_size, layers)


def default_model_path():
    """Where the `face-recognition-models` package keeps `dlib_face_recognition_resnet_model_v1.dat`."""
    try:
        import face_recognition_models
    except ImportError:
        raise FaceRecognitionModelError(
            f"dlib's face recognition model is missing: install it with {install_command('faces')} "
            "(face-recognition-models)."
        ) from None
    return face_recognition_models.face_recognition_model_location()


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


def dlib_layer_sequence():
    """The (name, settings) of every layer of dlib_face_recognition_resnet_model_v1 as its file lists
    them, input first; settings are the pooling layers' (nr, nc, stride, padding), else None."""
    block = [("con_4", None), ("affine_", None), ("relu_", None), ("con_4", None), ("affine_", None)]
    sequence = [("con_4", None), ("affine_", None), ("relu_", None), ("max_pool_2", (3, 3, (2, 2), (0, 0)))]
    for _, down, plain in LEVELS:
        if down:
            sequence += block + [("avg_pool_2", (2, 2, (2, 2), (0, 0))), ("add_prev_", None), ("relu_", None)]
        sequence += (block + [("add_prev_", None), ("relu_", None)]) * plain
    return sequence + [("avg_pool_2", (0, 0, (1, 1), (0, 0))), ("fc_2", None)]  # avg_pool_everything, fc_no_bias


def dlib_padding(kernel, stride):
    """dlib's default padding of `con_` / `max_pool_` / `avg_pool_`: 0 when strided, else kernel // 2."""
    return 0 if stride != 1 else kernel // 2


def zero_padded_add(a, b):
    """`a + b` for NHWC tensors of different heights, widths or channels, as dlib's `add_prev_`:
    the result has the larger size on every axis, and values outside a tensor count as zero
    (each is padded at the bottom, right and high channels)."""
    shape_a, shape_b = a.shape, b.shape
    target = [max(x, y) for x, y in zip(shape_a[1:], shape_b[1:])]

    def pad(x):
        widths = [[0, 0]] + [[0, size - have] for size, have in zip(target, x.shape[1:])]
        return keras.ops.pad(x, widths) if any(w[1] for w in widths) else x

    return pad(a) + pad(b)


@keras.saving.register_keras_serializable(package="ragan_tf.face_recognition")
class Affine(keras.layers.Layer):
    """dlib's `affine_` in conv mode: ``x * gamma + beta``, one gamma and beta per channel
    (a frozen batch norm)."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        return inputs * self.gamma + self.beta


@keras.saving.register_keras_serializable(package="ragan_tf.face_recognition")
class DlibConv(keras.layers.Layer):
    """dlib's `con_<filters, k, k, stride, stride>`: zero padding `dlib_padding(k, stride)` on
    every side, then a valid cross-correlation with bias (dlib's output side
    ``1 + (n + 2 p - k) // s`` for n + 2 p >= k)."""

    def __init__(self, filters, kernel_size, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.stride = int(filters), int(kernel_size), int(stride)
        self.padding = dlib_padding(self.kernel_size, self.stride)
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, strides=self.stride, padding="valid", name="conv", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] += 2 * self.padding
        self.conv.build(tuple(padded))

    def call(self, inputs):
        if self.padding:
            p = self.padding
            inputs = keras.ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        return self.conv(inputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size, "stride": self.stride}


@keras.saving.register_keras_serializable(package="ragan_tf.face_recognition")
class FaceRecognitionResNet(keras.Model):
    """dlib's `dlib_face_recognition_resnet_model_v1` network in Keras: [B, 150, 150, 3] RGB in
    0..255 (float; dlib's uint8 chips cast) -> [B, 128] descriptors, unnormalised like dlib's.

    Built with Keras's initial weights; `load_face_recognition_resnet`
    (or `set_dlib_weights`) loads dlib's. Layers follow dlib's definition
    input first (see the module docstring): `stem_con`, `stem_affine`, then
    per residual block a strided-or-not `con_a`, `affine_a`, `con_b`,
    `affine_b`, then `fc`.

    Args:
        input_means: the R, G, B means dlib's input layer subtracts before
            dividing by 256 (the file's; `DLIB_INPUT_MEANS`).
    """

    def __init__(self, input_means=DLIB_INPUT_MEANS, **kwargs):
        super().__init__(**kwargs)
        self.input_means = tuple(float(mean) for mean in input_means)
        policy = self.dtype_policy
        self.stem_con = DlibConv(32, 7, 2, name="stem_con", dtype=policy)
        self.stem_affine = Affine(name="stem_affine", dtype=policy)
        self.blocks = []
        for level, (filters, down, plain) in enumerate(LEVELS):
            kinds = (["ares_down"] if down else []) + ["ares"] * plain
            for index, kind in enumerate(kinds):
                stride = 2 if kind == "ares_down" else 1
                prefix = f"level{len(LEVELS) - 1 - level}_{index}_{kind}"
                self.blocks.append(
                    (
                        kind,
                        DlibConv(filters, 3, stride, name=f"{prefix}_con_a", dtype=policy),
                        Affine(name=f"{prefix}_affine_a", dtype=policy),
                        DlibConv(filters, 3, 1, name=f"{prefix}_con_b", dtype=policy),
                        Affine(name=f"{prefix}_affine_b", dtype=policy),
                    )
                )
        self.fc = keras.layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="fc_no_bias", dtype=policy)

    @staticmethod
    def _block(x, con_a, affine_a, con_b, affine_b):
        """dlib's `block`: affine(con3x3(relu(affine(con3x3_stride(x)))))."""
        return affine_b(con_b(keras.ops.relu(affine_a(con_a(x)))))

    def __call__(self, images, *args, **kwargs):
        _check_images(images.shape, CHIP_SIZE)  # dlib's input_rgb_image_sized<150>: other sizes break the net
        return super().__call__(images, *args, **kwargs)

    def call(self, images):
        means = keras.ops.convert_to_tensor(self.input_means, dtype=self.compute_dtype)
        x = (keras.ops.cast(images, self.compute_dtype) - means) / 256.0  # input_rgb_image_sized
        x = keras.ops.relu(self.stem_affine(self.stem_con(x)))
        x = keras.ops.max_pool(x, 3, strides=2, padding="valid")  # max_pool<3,3,2,2>: padding 0
        for kind, *layers in self.blocks:
            branch = self._block(x, *layers)
            if kind == "ares_down":  # relu(add_prev2(avg_pool<2,2,2,2>(x), block_stride2(x)))
                x = keras.ops.average_pool(x, 2, strides=2, padding="valid")
            x = keras.ops.relu(zero_padded_add(x, branch))  # ares: relu(add_prev1(x, block(x)))
        x = keras.ops.mean(x, axis=(1, 2))  # avg_pool_everything
        return self.fc(x)

    def build(self, input_shape=(None, CHIP_SIZE, CHIP_SIZE, 3)):
        # Running the forward pass once builds every sub-layer with its input shape.
        self.call(keras.ops.zeros((1, *tuple(input_shape)[1:]), dtype=self.compute_dtype))
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], DESCRIPTOR_SIZE)

    def get_config(self):
        return {**super().get_config(), "input_means": list(self.input_means)}

    def conv_layers(self):
        """The `DlibConv` layers in dlib's order (input first)."""
        return [self.stem_con] + [layer for _, con_a, _, con_b, _ in self.blocks for layer in (con_a, con_b)]

    def affine_layers(self):
        """The `Affine` layers in dlib's order (input first)."""
        return [self.stem_affine] + [
            layer for _, _, affine_a, _, affine_b in self.blocks for layer in (affine_a, affine_b)
        ]

    def set_dlib_weights(self, network: DlibNetwork):
        """Loads a parsed dlib file's parameters: filters [n, k, r, c] -> kernels [r, c, k, n]."""
        sequence = dlib_layer_sequence()
        if len(network.layers) != len(sequence):
            raise FaceRecognitionModelError(
                f"the dlib network has {len(network.layers)} layers; "
                f"dlib_face_recognition_resnet_model_v1 has {len(sequence)}."
            )
        for index, (layer, (name, pooling)) in enumerate(zip(network.layers, sequence)):
            settings = layer.settings
            if layer.name.rstrip("45") != name.rstrip("45") or (
                pooling and (settings["nr"], settings["nc"], settings["stride"], settings["padding"]) != pooling
            ):
                raise FaceRecognitionModelError(
                    f"dlib layer {index} is {layer.name} {settings}; dlib_face_recognition_resnet_model_v1 has {name} "
                    f"{pooling or ''} there."
                )
        cons = [layer for layer in network.layers if layer.name.startswith("con_")]
        affines = [layer for layer in network.layers if layer.name == "affine_"]
        fcs = [layer for layer in network.layers if layer.name == "fc_2"]
        conv_layers, affine_layers = self.conv_layers(), self.affine_layers()
        if (len(cons), len(affines), len(fcs)) != (len(conv_layers), len(affine_layers), 1):
            raise FaceRecognitionModelError(
                f"the dlib network has {len(cons)} con, {len(affines)} affine and {len(fcs)} fc layers; "
                f"dlib_face_recognition_resnet_model_v1 has {len(conv_layers)}, {len(affine_layers)} and 1."
            )
        if not self.built:
            self.build()
        for keras_layer, layer in zip(conv_layers, cons):
            filters = layer.arrays["filters"]
            expected = (keras_layer.filters, filters.shape[1], keras_layer.kernel_size, keras_layer.kernel_size)
            if filters.shape != expected or layer.settings["stride"] != (keras_layer.stride,) * 2 or (
                layer.settings["padding"] != (keras_layer.padding,) * 2
            ):
                raise FaceRecognitionModelError(
                    f"dlib layer {layer.name} {layer.settings} with filters {filters.shape} "
                    f"does not match {keras_layer.name} (filters {expected})."
                )
            keras_layer.conv.set_weights([np.transpose(filters, (2, 3, 1, 0)), layer.arrays["biases"]])
        for keras_layer, layer in zip(affine_layers, affines):
            keras_layer.set_weights([layer.arrays["gamma"], layer.arrays["beta"]])
        weights = fcs[0].arrays["weights"]
        if weights.shape != (256, DESCRIPTOR_SIZE) or "biases" in fcs[0].arrays:
            raise FaceRecognitionModelError(f"dlib's fc layer is {weights.shape}, expected (256, 128) without bias.")
        self.fc.set_weights([weights])
        return self


def load_face_recognition_resnet(path=None, dtype=None) -> FaceRecognitionResNet:
    """`FaceRecognitionResNet` with the weights of dlib's .dat file at `path`.

    `path` defaults to the `face-recognition-models` package's
    `dlib_face_recognition_resnet_model_v1.dat`; a missing file or package
    raises `FaceRecognitionModelError` saying what to install. `dtype`
    ("float64" for a reference in double precision) is the Keras dtype
    policy; default float32, like dlib.
    """
    network = read_dlib_resnet(path)
    if network.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise FaceRecognitionModelError(
            f"{path or default_model_path()} takes {network.input_size} inputs, not {CHIP_SIZE} x {CHIP_SIZE}."
        )
    model = FaceRecognitionResNet(network.input_means, name="dlib_face_recognition_resnet_v1", dtype=dtype)
    model.build()
    return model.set_dlib_weights(network)


@keras.saving.register_keras_serializable(package="ragan_tf.face_recognition")
class FaceRecognitionEmbedding(keras.Model):
    """Differentiable dlib face descriptors of images in the model range.

    float32 [B, S, S, 3] RGB in [-1, 1] (any S; the face already aligned the
    way `dlib.get_face_chip(image, shape, 150, 0.25)` cuts it) -> bilinear
    resize to 150 x 150 (no anti-aliasing, so it is smooth in the input;
    skipped when S is 150) -> 0..255 -> `FaceRecognitionResNet` -> [B, 128].
    Descriptors closer than `threshold` (0.6, dlib's convention) are the
    same person. Gradients flow to the input images.

    Args:
        resnet: a loaded `FaceRecognitionResNet` (default:
            `load_face_recognition_resnet()`).
    """

    threshold = THRESHOLD

    def __init__(self, resnet=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(resnet, dict):
            resnet = keras.saving.deserialize_keras_object(resnet)
        self.resnet = load_face_recognition_resnet() if resnet is None else resnet

    def __call__(self, images, *args, **kwargs):
        _check_images(images.shape)
        return super().__call__(images, *args, **kwargs)

    def call(self, images):
        images = keras.ops.cast(images, self.resnet.compute_dtype)
        if images.shape[1] != CHIP_SIZE or images.shape[2] != CHIP_SIZE:
            images = keras.ops.image.resize(images, (CHIP_SIZE, CHIP_SIZE), interpolation="bilinear", antialias=False)
        return self.resnet((images + 1.0) * 127.5)

    @staticmethod
    def distance(a, b):
        """Euclidean distance between matching rows of two [B, 128] descriptor batches (differentiable
        away from a == b)."""
        return keras.ops.sqrt(keras.ops.sum(keras.ops.square(a - b), axis=-1))

    def get_config(self):
        return {**super().get_config(), "resnet": keras.saving.serialize_keras_object(self.resnet)}
