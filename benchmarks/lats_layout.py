"""A generator with the layer structure of LATS (the face-aging peer), in Keras, for speed comparisons.

LATS (Or-El, Sengupta, Fried, Shechtman, Kemelmacher-Shlizerman: "Lifespan Age
Transformation Synthesis", ECCV 2020) is the peer whose generator is closest to
RAGAN's. This is its layer structure as its paper describes it (not its code): the
weights are random and it is never trained; it exists so that `benchmarks/peer_speed.py`
can time both generators in one framework, on one machine, with the same kernels.

    identity encoder   7x7 conv 64 -> two stride-2 3x3 convs (128, 256) -> 4 residual
                       blocks at 1/4 resolution, 256 channels (instance norm, ReLU)
    age mapping        the target age class's code (6 classes x 50 dims, one-hot
                       blocks as LATS's class-conditional age vectors) -> 4 dense
                       layers of 256 (LeakyReLU 0.2): the style w
    decoder            4 residual blocks of StyleGAN2 modulated 3x3 convolutions
                       (weight demodulation) at 1/4 resolution, 256 channels; two
                       upsampling blocks (nearest x2, then two modulated 3x3 convs:
                       256 -> 128 -> 128, 128 -> 64 -> 64); a modulated 1x1 to RGB
                       (no demodulation), tanh

Our choices where the description is not exact (they move the FLOP count by a few
percent at most): instance norm in the encoder, the second modulated convolution in
each upsampling block, the fused form of modulation (scale the input channels, convolve
with the shared kernel, scale the output channels by the demodulation factor: the same
arithmetic as a per-sample kernel, the form StyleGAN2 itself uses for speed). LATS's age
encoder (used in training to build the age codes) and its discriminator are left out: an
aging call does not run them. `python benchmarks/lats_layout.py` prints the parameter and
FLOP counts next to the published ones (18.2M parameters, 112.5 GFLOPs per forward pass at
256 px, as measured on LATS's own code).
"""

import keras
import numpy as np
from keras import layers, ops

AGE_CLASSES, AGE_CODE_PER_CLASS, STYLE_DIM = 6, 50, 256


class ModulatedConv2D(layers.Layer):
    """StyleGAN2's modulated convolution (fused form): per-sample input scales from the style,
    a shared kernel, per-sample output demodulation."""

    def __init__(self, filters, kernel_size, demodulate=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.demodulate = filters, kernel_size, demodulate

    def build(self, x_shape, style_shape):
        channels = x_shape[-1]
        self.style = layers.Dense(channels, bias_initializer="ones", name="style")
        self.style.build(style_shape)
        self.kernel = self.add_weight(shape=(self.kernel_size, self.kernel_size, channels, self.filters),
                                      initializer="he_normal", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x, style):
        scales = self.style(style)  # [B, C_in]
        y = ops.conv(x * scales[:, None, None, :], self.kernel, padding="same")
        if self.demodulate:  # 1 / |per-sample kernel| per output channel: [B, C_out]
            squared = ops.sum(ops.square(self.kernel), axis=(0, 1))  # [C_in, C_out]
            y = y * ops.rsqrt(ops.matmul(ops.square(scales), squared) + 1e-8)[:, None, None, :]
        return y + self.bias


def _encoder_block(x, filters, kernel, strides, name):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    x = layers.GroupNormalization(groups=-1, name=f"{name}_in")(x)  # instance norm
    return layers.ReLU(name=f"{name}_relu")(x)


def _encoder_residual(x, name):
    y = _encoder_block(x, 256, 3, 1, f"{name}_a")
    y = layers.Conv2D(256, 3, padding="same", name=f"{name}_b_conv")(y)
    y = layers.GroupNormalization(groups=-1, name=f"{name}_b_in")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def _styled(x, style, filters, kernel, name, demodulate=True, activate=True):
    x = ModulatedConv2D(filters, kernel, demodulate=demodulate, name=name)(x, style)
    return layers.LeakyReLU(0.2, name=f"{name}_act")(x) if activate else x


def build_lats_layout_generator(image_size=256):
    """`keras.Model([image, age_code]) -> aged image in [-1, 1]`; `age_code`: [B, 300]."""
    image = keras.Input((image_size, image_size, 3), name="image")
    age_code = keras.Input((AGE_CLASSES * AGE_CODE_PER_CLASS,), name="age_code")
    x = _encoder_block(image, 64, 7, 1, "id_stem")
    x = _encoder_block(x, 128, 3, 2, "id_down1")
    x = _encoder_block(x, 256, 3, 2, "id_down2")
    for index in range(4):
        x = _encoder_residual(x, f"id_res{index}")
    style = age_code
    for index in range(4):
        style = layers.Dense(STYLE_DIM, name=f"mapping{index}")(style)
        style = layers.LeakyReLU(0.2, name=f"mapping{index}_act")(style)
    for index in range(4):
        y = _styled(x, style, 256, 3, f"dec_res{index}_a")
        y = _styled(y, style, 256, 3, f"dec_res{index}_b", activate=False)
        x = layers.Add(name=f"dec_res{index}_add")([x, y])
    for index, filters in enumerate((128, 64)):
        x = layers.UpSampling2D(2, name=f"dec_up{index}")(x)
        x = _styled(x, style, filters, 3, f"dec_up{index}_a")
        x = _styled(x, style, filters, 3, f"dec_up{index}_b")
    rgb = _styled(x, style, 3, 1, "to_rgb", demodulate=False, activate=False)
    return keras.Model([image, age_code], layers.Activation("tanh", name="tanh")(rgb), name="lats_layout_generator")


def age_codes(classes):
    """LATS-style class age vectors: the block of 50 of each class set to ones ([A, 300])."""
    codes = np.zeros((len(classes), AGE_CLASSES, AGE_CODE_PER_CLASS), np.float32)
    for row, klass in enumerate(classes):
        codes[row, int(klass) % AGE_CLASSES] = 1.0
    return codes.reshape(len(classes), -1)


if __name__ == "__main__":
    import tensorflow as tf

    from inference import forward_flops  # this folder's benchmark helpers (run as a script)

    generator = build_lats_layout_generator(256)
    flops = forward_flops(lambda x, a: generator([x, a], training=False), tf.TensorSpec([1, 256, 256, 3]),
                          tf.TensorSpec([1, AGE_CLASSES * AGE_CODE_PER_CLASS]))
    print(f"LATS-layout generator at 256 px: {generator.count_params() / 1e6:.1f}M parameters, "
          f"{flops / 1e9:.1f} GFLOP per forward pass (published for LATS: 18.2M, 112.5 GFLOPs)")
