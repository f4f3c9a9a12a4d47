"""The RAGAN objective as pure functions.

With x a real face of age group y, y' a target group, x' = G(x, y'),
x_rec = G(x, y) and x_cyc = G(x', y):

- discriminator: softplus(-D(x, y)) + softplus(D(x', y')) + (r1_gamma / 2) R1,
  R1 = ||grad_x D(x, y)||^2 (non-saturating adversarial loss on the logit of
  the relevant age group, plus the R1 penalty on real images);
- generator: lambda_adv softplus(-D(x', y')) + lambda_rec |x_rec - x|_1
  + lambda_cyc |x_cyc - x|_1.

Optional (ours, off in the paper-faithful configs): with an auxiliary age
classifier C on the discriminator's trunk, lambda_age_cls CE(C(x), y) joins
the discriminator's loss and lambda_age_cls CE(C(x'), y') the generator's
(StarGAN's domain classification loss).

Every term is returned PER EXAMPLE (shape [B]). The caller reduces them, so
that the scaling under `tf.distribute` (sum over the replica's examples
divided by the GLOBAL batch size) is written once, in the train step, and is
visible there. `compute_discriminator_loss` and `compute_generator_loss`
return `(per_example_total, terms)` where `terms` maps names to the batch
means of the individual terms, for logging.
"""

import keras
from keras import ops

from ragan_tf.models.adversarial_losses import (  # noqa: F401  (part of the RAGAN objective)
    full_precision,
    fake_adversarial_loss,
    generator_adversarial_loss,
    real_adversarial_loss,
)


def l1_loss(images, reference_images):
    """Mean absolute difference per example over height, width and channels, [B]."""
    difference = ops.abs(full_precision(images) - full_precision(reference_images))
    return ops.mean(ops.reshape(difference, (ops.shape(difference)[0], -1)), axis=1)


def r1_penalty(real_logit_gradients):
    """R1 = ||grad_x D(x, y)||^2 per example, [B].

    Args:
        real_logit_gradients: the gradient of the real logits with respect to
            the real images, [B, H, W, C] (the gradient of their sum, which
            is per example because D treats examples independently).
    """
    squared = ops.square(full_precision(real_logit_gradients))
    return ops.sum(ops.reshape(squared, (ops.shape(squared)[0], -1)), axis=1)


def age_classification_loss(age_logits, age_groups):
    """Cross-entropy of age-group classification logits [B, G] against int groups [B], per example [B]."""
    return keras.losses.sparse_categorical_crossentropy(
        ops.cast(age_groups, "int32"), full_precision(age_logits), from_logits=True
    )


def compute_discriminator_loss(real_logits, fake_logits, r1, r1_gamma=1.0, real_age_logits=None, age_groups=None,
                               lambda_age_cls=0.0):
    """The discriminator's objective.

    Args:
        real_logits: D(x, y), [B].
        fake_logits: D(x', y') on detached generated faces, [B].
        r1: `r1_penalty` of the real logits, [B].
        r1_gamma: R1 weight; the penalty enters as (r1_gamma / 2) * R1.
        real_age_logits: the auxiliary classifier's logits C(x) [B, G], or None (the paper).
        age_groups: y, [B] (with `real_age_logits`).
        lambda_age_cls: weight of CE(C(x), y).

    Returns:
        `(per_example_loss [B], {"d_adv": mean adversarial term, "r1": mean R1[, "d_cls": mean CE]})`.
    """
    adversarial = real_adversarial_loss(real_logits) + fake_adversarial_loss(fake_logits)
    r1 = full_precision(r1)
    per_example = adversarial + (0.5 * r1_gamma) * r1
    terms = {"d_adv": ops.mean(adversarial), "r1": ops.mean(r1)}
    if real_age_logits is not None:
        classification = age_classification_loss(real_age_logits, age_groups)
        per_example = per_example + lambda_age_cls * classification
        terms["d_cls"] = ops.mean(classification)
    return per_example, terms


def compute_generator_loss(
    fake_logits,
    images,
    reconstructed_images,
    cycled_images,
    lambda_adv=1.0,
    lambda_rec=10.0,
    lambda_cyc=1.0,
    fake_age_logits=None,
    target_age_groups=None,
    lambda_age_cls=0.0,
):
    """The generator's objective.

    Args:
        fake_logits: D(x', y'), [B].
        images: the real faces x, [B, H, W, 3].
        reconstructed_images: x_rec = G(x, y), [B, H, W, 3].
        cycled_images: x_cyc = G(x', y), [B, H, W, 3].
        lambda_adv, lambda_rec, lambda_cyc: term weights (floats or scalar
            tensors; `lambda_rec` is scheduled during training).
        fake_age_logits: the auxiliary classifier's logits C(x') [B, G], or None (the paper).
        target_age_groups: y', [B] (with `fake_age_logits`).
        lambda_age_cls: weight of CE(C(x'), y').

    Returns:
        `(per_example_loss [B], {"g_adv": ..., "rec": ..., "cyc": ...[, "g_cls": ...]})`
        with the batch means of the unweighted terms.
    """
    adversarial = generator_adversarial_loss(fake_logits)
    reconstruction = l1_loss(reconstructed_images, images)
    cycle = l1_loss(cycled_images, images)
    per_example = (
        ops.cast(lambda_adv, adversarial.dtype) * adversarial
        + ops.cast(lambda_rec, adversarial.dtype) * reconstruction
        + ops.cast(lambda_cyc, adversarial.dtype) * cycle
    )
    terms = {"g_adv": ops.mean(adversarial), "rec": ops.mean(reconstruction), "cyc": ops.mean(cycle)}
    if fake_age_logits is not None:
        classification = age_classification_loss(fake_age_logits, target_age_groups)
        per_example = per_example + ops.cast(lambda_age_cls, adversarial.dtype) * classification
        terms["g_cls"] = ops.mean(classification)
    return per_example, terms
