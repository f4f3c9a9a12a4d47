"""Measurements that rule RAGAN defects in or out (issue 11's candidates), one subcommand each.

    # Can the discriminator's architecture tell the age groups apart at all? Trains its trunk
    # and per-group heads as a plain age classifier (softmax over the heads) on real training
    # faces, then reports test accuracy (and within one group).
    python benchmarks/ragan_diagnostics.py discriminator-capacity pipelines/ragan_synthetic_quickstart.yaml

    # Do a trained run's discriminator heads tell ages apart? Share of real test faces whose
    # own group's head gives the highest real/fake logit (chance: 1 / groups), and the same
    # for the auxiliary classifier when the run has one.
    python benchmarks/ragan_diagnostics.py heads checkpoints/convergence/baseline

    # Where does the face in the output come from? Mean absolute change (0-255) inside and
    # outside the face when the decoder's face features or the background feature-flow
    # (the stem features) are zeroed before the recombination.
    python benchmarks/ragan_diagnostics.py paths checkpoints/convergence/baseline

    # How much do the age modulator's batch statistics move the output? The EMA generator with
    # the conditional batch norm in training mode (statistics of batches of --batch-size test
    # faces, as in training) against inference mode (moving averages).
    python benchmarks/ragan_diagnostics.py batch-statistics checkpoints/convergence/benchmark6k

    # Would batch-norm statistics recomputed for the EMA weights (standing statistics; the EMA
    # generator copies the raw generator's moving averages) change the convergence figures?
    python benchmarks/ragan_diagnostics.py standing-statistics checkpoints/convergence/benchmark6k

    # How are the training examples spread over the age groups?
    python benchmarks/ragan_diagnostics.py group-counts pipelines/ragan_synthetic_quickstart.yaml
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _test_faces(config, count):
    import numpy as np

    from ragan_tf.evaluation.evaluate import synthetic_test_set

    evaluation_set = synthetic_test_set(config.data, count)
    return evaluation_set, np.asarray(evaluation_set.images, np.float32), np.asarray(evaluation_set.masks, np.float32)


def _load_run(run):
    from ragan_tf.config import load_config
    from ragan_tf.models.registry import get_family

    config = load_config(Path(run) / "config.yaml")
    model = get_family(config.model.type).build_training_model(config)
    model.load_weights(str(Path(run) / "final.weights.h5"))
    return config, model


def _aged_test_faces(run, count):
    """`(config, EMA generator, images, masks, targets)`: a run's model and `count` test faces, each
    with a target group other than its own (cycling through the other groups)."""
    import numpy as np

    from ragan_tf.data.age_groups import get_scheme

    config, model = _load_run(run)
    scheme = get_scheme(config.data.age_groups)
    evaluation_set, images, masks = _test_faces(config, count)
    targets = (scheme.group_of(evaluation_set.ages) + 1 + np.arange(len(images)) % (scheme.num_groups - 1)) % scheme.num_groups
    return config, model.generator_ema, images, masks, targets


def group_counts(args):
    import numpy as np

    from ragan_tf.config import load_config
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.data.pipeline import make_dataset

    config = load_config(args.pipeline)
    scheme = get_scheme(config.data.age_groups)
    groups = np.concatenate([batch["age_group"].numpy() for batch in
                             make_dataset(config.data, "train", 256, training=False, repeat=False)])
    counts = np.bincount(groups, minlength=scheme.num_groups)
    print(f"{len(groups)} training examples; per group (share; examples per batch of {config.training.batch_size}):")
    for label, count in zip(scheme.labels, counts):
        print(f"  {label:>7}: {count:5d} ({count / len(groups):5.1%}; {count / len(groups) * config.training.batch_size:.2f})")


def discriminator_capacity(args):
    import keras
    import numpy as np
    from keras import ops

    from ragan_tf.config import load_config
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.data.normalization import to_model_range
    from ragan_tf.data.pipeline import make_dataset
    from ragan_tf.models.ragan.ragan_family import build_discriminator

    config = load_config(args.pipeline)
    keras.utils.set_random_seed(0)
    scheme = get_scheme(config.data.age_groups)
    discriminator = build_discriminator(config)
    optimizer = keras.optimizers.Adam(config.training.learning_rate, beta_1=config.training.beta_1,
                                      beta_2=config.training.beta_2)
    data = iter(make_dataset(config.data, "train", args.batch_size, training=True, seed=0))

    import tensorflow as tf

    @tf.function(jit_compile=True)
    def step(images, groups):
        with tf.GradientTape() as tape:
            logits = discriminator.all_logits(images, training=True)
            loss = ops.mean(keras.losses.sparse_categorical_crossentropy(groups, logits, from_logits=True))
        variables = discriminator.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    start = time.perf_counter()
    for index in range(args.steps):
        batch = next(data)
        images, _ = to_model_range(batch["image"], batch["face_mask"])
        loss = step(images, ops.cast(batch["age_group"], "int32"))
        if (index + 1) % max(1, args.steps // 5) == 0:
            print(f"step {index + 1}: loss {float(loss):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    evaluation_set, images, _ = _test_faces(config, args.faces)
    truth = scheme.group_of(evaluation_set.ages)
    predicted = np.argmax(np.asarray(discriminator.all_logits(images, training=False)), axis=1)
    print(f"{args.steps} steps of batch {args.batch_size}: test accuracy {np.mean(predicted == truth):.1%}, "
          f"within one group {np.mean(np.abs(predicted - truth) <= 1):.1%} (chance {1 / scheme.num_groups:.1%}) "
          f"on {len(truth)} unseen test faces")


def heads(args):
    import numpy as np

    from ragan_tf.data.age_groups import get_scheme

    config, model = _load_run(args.run)
    scheme = get_scheme(config.data.age_groups)
    evaluation_set, images, _ = _test_faces(config, args.faces)
    truth = scheme.group_of(evaluation_set.ages)
    discriminator = model.discriminator
    logits = np.asarray(discriminator.all_logits(images, training=False))
    own = np.eye(scheme.num_groups, dtype=bool)[truth]
    print(f"{args.run}: {len(truth)} real test faces, chance {1 / scheme.num_groups:.1%}")
    print(f"  real/fake heads: own group's head highest for {np.mean(np.argmax(logits, 1) == truth):.1%}; "
          f"mean own-head logit {logits[own].mean():.2f} vs other heads {logits[~own].mean():.2f}")
    if getattr(discriminator, "age_classifier", None) is not None:
        _, age_logits = discriminator.logits_and_age_logits(images, truth, training=False)
        predicted = np.argmax(np.asarray(age_logits), axis=1)
        print(f"  auxiliary age classifier: accuracy {np.mean(predicted == truth):.1%}, within one group "
              f"{np.mean(np.abs(predicted - truth) <= 1):.1%}")


def paths(args):
    import numpy as np

    from ragan_tf.visualization import to_uint8

    _, generator, images, masks, targets = _aged_test_faces(args.run, args.faces)
    decoder = generator.decoder
    identity_features, image_features, skips = generator.identity_encoder.encode(images, masks, training=False)
    age_code = generator.age_modulator(identity_features, targets, training=False)
    face_features = decoder.face_features(identity_features, age_code, training=False,
                                          skips=skips if decoder.skips else None)

    def render(face, background):
        return to_uint8(np.asarray(decoder.recombine(face, background, masks)))

    full = render(face_features, image_features)
    face, outside = masks[..., 0] > 0.5, masks[..., 0] <= 0.5
    print(f"{args.run}: {len(images)} test faces aged to another group; mean |change| (0-255) of the output")
    for name, output in (("decoder face features zeroed", render(0.0 * face_features, image_features)),
                         ("background feature-flow zeroed", render(face_features, 0.0 * image_features))):
        change = np.abs(output.astype(np.float64) - full.astype(np.float64)).mean(axis=-1)
        print(f"  {name:32s}: inside the face {change[face].mean():6.2f}, outside {change[outside].mean():6.2f}")


def batch_statistics(args):
    import numpy as np

    from ragan_tf.visualization import to_uint8

    _, generator, images, masks, targets = _aged_test_faces(args.run, args.faces)
    outputs = {mode: [] for mode in (False, True)}
    for start in range(0, len(images) - args.batch_size + 1, args.batch_size):
        batch = slice(start, start + args.batch_size)
        for mode in outputs:  # training=True changes only the age modulator's batch norm (IN has no moving state)
            outputs[mode].append(to_uint8(np.asarray(generator(images[batch], masks[batch], targets[batch],
                                                               training=mode))))
    moving, batch_stats = (np.concatenate(outputs[mode]).astype(np.float64) for mode in (False, True))
    face = masks[: len(moving), ..., 0] > 0.5
    change = np.abs(batch_stats - moving).mean(axis=-1)
    print(f"{args.run}: {len(moving)} test faces aged to another group, batches of {args.batch_size}; "
          f"mean |batch statistics - moving averages| (0-255) inside the face {change[face].mean():.2f}, "
          f"95th percentile {np.percentile(change[face], 95):.2f}")


def standing_statistics(args):
    import numpy as np

    from ragan_tf.data import synthetic_faces
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.callback import EvaluationCallback
    from ragan_tf.evaluation.evaluate import synthetic_metrics, synthetic_test_set

    config, model = _load_run(args.run)
    scheme, data, generator = get_scheme(config.data.age_groups), config.data, model.generator_ema
    evaluator = EvaluationCallback(synthetic_test_set(data, args.faces), scheme, Path(args.run) / "standing_logs", 0,
                                   synthetic_metrics(data, verbose=False), tuple(data.non_face_labels))

    def show(name, values):
        print(f"{name}: " + "  ".join(f"{key} {value:.4g}" for key, value in values.items()))

    show("moving averages (as trained)", evaluator.evaluate_network(generator))
    # Training faces at random ages, each aged to a random other group, as in training.
    train_ids, _ = synthetic_faces.split_identities(data.synthetic_identities, data.synthetic_test_fraction,
                                                    data.synthetic_seed)
    rng = np.random.default_rng(0)
    count = args.batches * args.batch_size
    ages = rng.uniform(0, 90, count)
    images, masks = synthetic_faces.render_faces([int(i) for i in rng.choice(np.asarray(train_ids), count)], list(ages),
                                                 data.image_size, data.synthetic_seed, tuple(data.non_face_labels))
    images, masks = images.astype(np.float32) / 127.5 - 1.0, masks.astype(np.float32)
    targets = ((scheme.group_of(ages) + rng.integers(1, scheme.num_groups, count)) % scheme.num_groups).astype(np.int32)
    for start in range(0, count, args.batch_size):  # momentum 0.99: the old averages weigh 0.99**batches at the end
        batch = slice(start, start + args.batch_size)
        generator(images[batch], masks[batch], targets[batch], training=True)
    show(f"standing statistics ({args.batches} batches of {args.batch_size})", evaluator.evaluate_network(generator))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    capacity = commands.add_parser("discriminator-capacity")
    capacity.add_argument("pipeline")
    capacity.add_argument("--steps", type=int, default=600)
    capacity.add_argument("--batch-size", type=int, default=32)
    capacity.add_argument("--faces", type=int, default=300)
    capacity.set_defaults(function=discriminator_capacity)
    for name, function in (("heads", heads), ("paths", paths)):
        command = commands.add_parser(name)
        command.add_argument("run")
        command.add_argument("--faces", type=int, default=300)
        command.set_defaults(function=function)
    batch = commands.add_parser("batch-statistics")
    batch.add_argument("run")
    batch.add_argument("--faces", type=int, default=296)
    batch.add_argument("--batch-size", type=int, default=8)
    batch.set_defaults(function=batch_statistics)
    standing = commands.add_parser("standing-statistics")
    standing.add_argument("run")
    standing.add_argument("--faces", type=int, default=48, help="test faces (the convergence benchmark's 48)")
    standing.add_argument("--batches", type=int, default=200)
    standing.add_argument("--batch-size", type=int, default=8)
    standing.set_defaults(function=standing_statistics)
    counts = commands.add_parser("group-counts")
    counts.add_argument("pipeline")
    counts.set_defaults(function=group_counts)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    main()
