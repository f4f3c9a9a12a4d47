"""The non-saturating adversarial loss (Goodfellow et al. 2014) on logits, per example.

With the discriminator's logit l = D(x) and sigmoid(l) the probability that
x is real, binary cross-entropy gives softplus(-l) for a real image and
softplus(l) for a generated one; the generator minimises softplus(-D(G(z)))
(the non-saturating form of the minimax game). Every family's losses file
builds on these three terms; each returns shape [B] (float32 under mixed
precision too), and the train step reduces them over the global batch.
"""

from keras import ops


def as_float32(x):
    # Logits and images may be float16 under mixed precision; losses are float32.
    return ops.cast(x, "float32")


def real_adversarial_loss(real_logits):
    """softplus(-D(x)): the discriminator's loss on real images, [B]."""
    return ops.softplus(-as_float32(real_logits))


def fake_adversarial_loss(fake_logits):
    """softplus(D(x_fake)): the discriminator's loss on generated images, [B]."""
    return ops.softplus(as_float32(fake_logits))


def generator_adversarial_loss(fake_logits):
    """softplus(-D(x_fake)): the non-saturating generator loss, [B]."""
    return ops.softplus(-as_float32(fake_logits))
