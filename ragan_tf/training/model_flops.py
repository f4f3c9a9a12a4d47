"""Analytic model FLOPs of a train step: the convolutions and dense layers it calls, from their shapes.

Model FLOP utilisation (MFU) divides the FLOPs a step *needs* by its time and
the device's peak. Counting the operations of the traced graph instead gives
more than 100% under XLA, which removes work the graph repeats (RAGAN's
discriminator update and generator update both run `G(x, y')` with the same
weights). Here the work is counted from the layers themselves:

- each call of a `Conv2D`, `Conv2DTranspose` or `Dense` layer during one
  eager run of the step adds its forward FLOPs, 2 per multiply-add, from the
  call's input and output shapes (biases, normalisation and activations are
  left out: they are a few percent of a convolution's work);
- a call whose output a gradient tape records adds twice that again for the
  backward pass (the gradients with respect to its input and to its kernel),
  the usual "training = 3 x forward" convention of MFU; a call outside any
  tape (RAGAN's detached `G(x, y')` in the discriminator update) counts once.

What the convention leaves out: the second-order work of a gradient penalty
(R1 differentiates D's input gradient; counted as one backward pass, not
two), and it counts the backward pass of a recorded call whose weights no
optimizer takes (D inside the generator update needs only its input gradient,
2/3 of the convention's 2x). Small matmuls outside layers (class-conditional
tables) are not counted.
"""

import collections
import contextlib
import math

import keras
import tensorflow as tf

try:  # TensorFlow has no public "does a tape record this tensor" test; this is the one its tapes use
    from tensorflow.python.eager.record import should_record_backprop
except ImportError:  # older layout
    from tensorflow.python.eager.tape import should_record_backprop

COUNTED_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


def _static_shape(tensor):
    return tuple(int(d) for d in tensor.shape)


def layer_forward_flops(layer, inputs, outputs):
    """FLOPs (2 per multiply-add) of one call of a counted layer with these input and output tensors."""
    in_shape, out_shape = _static_shape(inputs), _static_shape(outputs)
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(in_shape[:-1]) * in_shape[-1] * layer.units
    kernel_positions = math.prod(layer.kernel_size)
    channels_last = layer.data_format == "channels_last"
    in_channels = in_shape[-1] if channels_last else in_shape[1]
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # every input position scatters a kernel_size window of out_channels values
        positions = math.prod(in_shape[:-1]) if channels_last else in_shape[0] * math.prod(in_shape[2:])
        return 2 * positions * in_channels * kernel_positions * layer.filters
    positions = math.prod(out_shape[:-1]) if channels_last else out_shape[0] * math.prod(out_shape[2:])
    return 2 * positions * (in_channels // layer.groups) * kernel_positions * layer.filters


class FlopCount:
    """The tally of one counted run: forward FLOPs, backward FLOPs, and calls per layer class."""

    def __init__(self):
        self.forward = 0
        self.backward = 0
        self.calls = collections.Counter()

    @property
    def total(self):
        return self.forward + self.backward

    def add(self, layer, inputs, outputs):
        flops = layer_forward_flops(layer, inputs, outputs)
        self.forward += flops
        if should_record_backprop([outputs]):
            self.backward += 2 * flops
        self.calls[type(layer).__name__] += 1


@contextlib.contextmanager
def counting_flops():
    """Within the block, every eager call of a counted layer adds to the yielded `FlopCount`."""
    count = FlopCount()
    own_calls = {cls: vars(cls).get("call") for cls in COUNTED_LAYERS}  # None: inherited (Conv2D's is BaseConv's)

    def counted(original):
        # A subclass that overrides `call` reaches this through super(): each layer call counts once.
        def call(self, inputs, *args, **kwargs):
            outputs = original(self, inputs, *args, **kwargs)
            count.add(self, inputs, outputs)
            return outputs
        return call

    try:
        for cls in COUNTED_LAYERS:
            cls.call = counted(own_calls[cls] or cls.call)
        yield count
    finally:
        for cls, own_call in own_calls.items():
            if own_call is None:
                del cls.call
            else:
                cls.call = own_call


def train_step_flops(model, batch):
    """`FlopCount` of one eager `model.train_step(batch)` (the step runs: weights and optimizer state move).

    Args:
        model: a built, compiled training model of any family.
        batch: the step's input, a dict of tensors or arrays as the dataset yields it.
    """
    batch = tf.nest.map_structure(tf.convert_to_tensor, batch)
    with counting_flops() as count:
        model.train_step(batch)
    return count
