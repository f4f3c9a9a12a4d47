"""ragan-tf: Re-Aging GAN and face-aging baselines in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
