"""The GAN objective of seed 003 / Goodfellow et al. as pure per-example functions.

Discriminator: binary cross-entropy of D(x) against "real" plus of D(G(z))
against "fake" (seed 003: "summation of both the real image loss and the
fake image loss is the total loss of the discriminator"); generator: the
non-saturating form, cross-entropy of D(G(z)) against "real". On logits:
softplus(-D(x)) + softplus(D(G(z))) and softplus(-D(G(z))). Each returns
`(per_example [B], terms)` like RAGAN's losses; the train step reduces.
"""

from keras import ops

from ragan_tf.models.adversarial_losses import (
    fake_adversarial_loss,
    full_precision,
    generator_adversarial_loss,
    real_adversarial_loss,
)


def compute_discriminator_loss(real_logits, fake_logits):
    """`(per_example [B], {"d_real": mean real term, "d_fake": mean fake term})`."""
    real, fake = real_adversarial_loss(real_logits), fake_adversarial_loss(fake_logits)
    return real + fake, {"d_real": ops.mean(real), "d_fake": ops.mean(fake)}


def compute_generator_loss(fake_logits):
    """`(per_example [B], {})`: the non-saturating generator loss."""
    return generator_adversarial_loss(fake_logits), {}


def latent_regression_loss(predicted_noise, noise):
    """Mean squared error per example over the latent dimensions, [B] (the encoder's
    Euclidean loss; 1.0 for a constant prediction of standard normal z)."""
    predicted_noise = full_precision(predicted_noise)
    difference = predicted_noise - ops.cast(noise, predicted_noise.dtype)
    return ops.mean(ops.square(difference), axis=-1)
