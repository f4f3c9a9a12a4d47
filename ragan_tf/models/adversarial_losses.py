"""The non-saturating adversarial loss (Goodfellow et al. 2014) on logits, per example.

With the discriminator's logit l = D(x) and sigmoid(l) the probability that
x is real, binary cross-entropy gives softplus(-l) for a real image and
softplus(l) for a generated one; the generator minimises softplus(-D(G(z)))
(the non-saturating form of the minimax game). Every family's losses file
builds on these three terms; each returns shape [B] (float32 under mixed
precision too), and the train step reduces them over the global batch.
"""

from keras import backend, ops


def full_precision(x):
    """float16 / bfloat16 (mixed precision) -> float32; float32 and float64 pass unchanged.

    Losses are never computed in half precision; a float64 network (the exactness tests) keeps
    float64 losses.
    """
    x = ops.convert_to_tensor(x)
    if backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        return ops.cast(x, "float32")
    return x


def real_adversarial_loss(real_logits):
    """softplus(-D(x)): the discriminator's loss on real images, [B]."""
    return ops.softplus(-full_precision(real_logits))


def fake_adversarial_loss(fake_logits):
    """softplus(D(x_fake)): the discriminator's loss on generated images, [B]."""
    return ops.softplus(full_precision(fake_logits))


def generator_adversarial_loss(fake_logits):
    """softplus(-D(x_fake)): the non-saturating generator loss, [B]."""
    return ops.softplus(-full_precision(fake_logits))
