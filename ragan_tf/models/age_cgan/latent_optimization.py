"""Age-cGAN's latent vector optimisation (Antipov et al. 2017, section 3.2; seed 001).

Starting from the encoder's z0 = E(x) and with the face's own age group y0
fixed, find the z whose reconstruction G(z, y0) is closest to x:

- `pixel`: argmin_z ||x - G(z, y0)||^2, per example the mean over pixels
  (the paper: "pixelwise" latent optimisation);
- `identity`: argmin_z ||FR(x) - FR(G(z, y0))||^2 with a face-recognition
  embedding FR (the paper: "identity-preserving"; the paper's FR was a
  trained face-recognition CNN, ours is dlib's ResNet descriptor ported to
  Keras: `ragan_tf.models.face_recognition_resnet`).

The squared norms have the same minimisers as the paper's norms and smooth
gradients at 0. Aging is then G(z*, y_target).

Two optimisers, each optimising a whole batch at once (the objectives of
different faces share no variable, so their sum is minimised per face):

- `lbfgsb` (the paper's): scipy's L-BFGS-B on the flattened batch latent,
  with the objective and its gradient from one compiled TF function per call;
  `iterations` is L-BFGS-B's `maxiter`, `tolerance` its `ftol` and `gtol`.
  It runs in Python, so it serves the Python API, `ragan-tf evaluate` and
  the benchmark, not a SavedModel.
- `adam`: `iterations` Adam steps of `learning_rate` inside one TF graph
  (`tf.while_loop`), so a SavedModel signature can run it; the iteration
  count may be a tensor.

Example:
```python
objective = pixel_objective(ager.generator, images, source_groups)
result = optimize_lbfgsb(objective, ager.encoder(images), iterations=50)
aged = ager.generator(result.latent, target_groups)
```
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf

OBJECTIVES = ("pixel", "identity")
OPTIMIZERS = ("lbfgsb", "adam")


def pixel_objective(generator, images, source_age):
    """`f(z) -> [B]`: mean over pixels of (x - G(z, y0))^2, images in [-1, 1]."""
    images = tf.cast(images, tf.float32)

    def objective(latent):
        reconstruction = tf.cast(generator(latent, source_age, training=False), tf.float32)
        return tf.reduce_mean(tf.square(images - reconstruction), axis=[1, 2, 3])

    return objective


def identity_objective(generator, identity_network, images, source_age):
    """`f(z) -> [B]`: ||FR(x) - FR(G(z, y0))||^2 for a face-recognition network `FR` taking
    images in [-1, 1] (the embedding of x is computed once)."""
    target = tf.stop_gradient(tf.cast(identity_network(images, training=False), tf.float32))

    def objective(latent):
        reconstruction = generator(latent, source_age, training=False)
        embedding = tf.cast(identity_network(reconstruction, training=False), tf.float32)
        return tf.reduce_sum(tf.square(target - embedding), axis=-1)

    return objective


@dataclasses.dataclass
class LatentResult:
    """What an optimisation did.

    Attributes:
        latent: z*, float32 [B, noise_dim].
        initial: the objective per face at z0, [B].
        final: the objective per face at z*, [B].
        iterations: optimiser iterations run.
        evaluations: objective (and gradient) evaluations.
        seconds: wall time.
        message: the optimiser's stopping reason.
    """

    latent: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    iterations: int
    evaluations: int
    seconds: float
    message: str = ""


def optimize_lbfgsb(objective, initial_latent, iterations=100, tolerance=1e-6):
    """Minimises `sum(objective(z))` over the batch latent with scipy's L-BFGS-B, from
    `initial_latent` [B, D]. Returns a `LatentResult`."""
    from scipy.optimize import minimize  # scipy comes with the package (setup.py)

    start = time.perf_counter()
    z0 = np.asarray(initial_latent, np.float32)
    shape = z0.shape

    @tf.function(reduce_retracing=True)
    def value_and_gradient(latent):
        with tf.GradientTape() as tape:
            tape.watch(latent)
            per_example = objective(latent)
            total = tf.reduce_sum(per_example)
        return total, tape.gradient(total, latent), per_example

    def fun(flat):
        total, gradient, _ = value_and_gradient(tf.constant(flat.reshape(shape), tf.float32))
        return float(total), np.asarray(gradient, np.float64).reshape(-1)

    initial = np.asarray(value_and_gradient(tf.constant(z0))[2])
    result = minimize(fun, z0.reshape(-1).astype(np.float64), jac=True, method="L-BFGS-B",
                      options={"maxiter": int(iterations), "ftol": tolerance, "gtol": tolerance})
    latent = result.x.reshape(shape).astype(np.float32)
    final = np.asarray(value_and_gradient(tf.constant(latent))[2])
    return LatentResult(latent, initial, final, int(result.nit), int(result.nfev), time.perf_counter() - start,
                        str(result.message))


def adam_steps(objective, initial_latent, iterations, learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """z after `iterations` Adam steps on `sum(objective(z))` from `initial_latent`: graph ops
    (`tf.while_loop`), usable inside a SavedModel signature; `iterations` may be a tensor."""
    latent = tf.cast(initial_latent, tf.float32)
    iterations = tf.cast(iterations, tf.int32)

    def body(step, latent, first, second):
        with tf.GradientTape() as tape:
            tape.watch(latent)
            total = tf.reduce_sum(objective(latent))
        gradient = tape.gradient(total, latent)
        first = beta_1 * first + (1.0 - beta_1) * gradient
        second = beta_2 * second + (1.0 - beta_2) * tf.square(gradient)
        t = tf.cast(step + 1, tf.float32)
        corrected = (first / (1.0 - beta_1**t)) / (tf.sqrt(second / (1.0 - beta_2**t)) + epsilon)
        return step + 1, latent - learning_rate * corrected, first, second

    zeros = tf.zeros_like(latent)
    _, latent, _, _ = tf.while_loop(lambda step, *_: step < iterations, body, (tf.constant(0), latent, zeros, zeros))
    return latent


def optimize_adam(objective, initial_latent, iterations=100, learning_rate=0.05):
    """`adam_steps` compiled and run once, as a `LatentResult` (for the Python API and benchmarks)."""
    start = time.perf_counter()
    z0 = tf.constant(np.asarray(initial_latent, np.float32))
    run = tf.function(lambda z: adam_steps(objective, z, iterations, learning_rate))
    latent = run(z0)
    initial, final = np.asarray(objective(z0)), np.asarray(objective(latent))
    return LatentResult(np.asarray(latent), initial, final, int(iterations), int(iterations),
                        time.perf_counter() - start, "iteration budget reached")


def optimize_latent(objective, initial_latent, optimizer="lbfgsb", iterations=100, tolerance=1e-6,
                    learning_rate=0.05):
    """`optimize_lbfgsb` or `optimize_adam` by name."""
    if optimizer == "lbfgsb":
        return optimize_lbfgsb(objective, initial_latent, iterations, tolerance)
    if optimizer == "adam":
        return optimize_adam(objective, initial_latent, iterations, learning_rate)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}.")
