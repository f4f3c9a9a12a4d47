"""Benchmarks of the embedded synthetic aging-faces dataset.

1. Render throughput (images/s, one process) at 64 and 128 px.
2. Learnability, on identities never seen in training:
   a. the package's synthetic age regressor
      (ragan_tf.evaluation.synthetic_age_regressor): age MAE in years;
   b. an identity matcher (a CNN trained to classify the training identities;
      its penultimate features, compared by cosine similarity): top-1
      accuracy of matching each unseen identity at an old age (probe, at
      least 30 years older) against a gallery of all unseen identities at a
      young age. The matcher sees only the face mask (background and clothing
      zeroed), because background and clothing are the same for an identity
      at every age and would make matching trivial.

Usage:
    python benchmarks/synthetic_dataset.py            # full run (about 8 min on 2 CPU cores)
    python benchmarks/synthetic_dataset.py --quick    # smoke run (about 1 min)
"""

import argparse
import os
import time

import numpy as np

from ragan_tf.data import synthetic_faces
from ragan_tf.evaluation.identity import SyntheticIdentityEmbedder, render_face_only
from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor, render_batch


def render_throughput(size, count, seed):
    """Images per second for `count` renders of fresh identities (a few ages each)."""
    synthetic_faces.render(0, 30.0, size, seed)  # warm-up: imports, table set-up
    first_identity = 1_000_000
    start = time.perf_counter()
    for index in range(count):
        identity = first_identity + index // 4
        synthetic_faces.render(identity, synthetic_faces.sample_age(identity, index % 4, seed), size, seed)
    return count / (time.perf_counter() - start)


def training_pairs(identities, images_per_identity, seed):
    return [(identity, synthetic_faces.sample_age(identity, index, seed))
            for identity in identities for index in range(images_per_identity)]


def age_regression_mae(train_ids, test_ids, args):
    """Trains the package's synthetic age regressor (the one `evaluate` uses) on
    train identities; age MAE (years) on test identities."""
    start = time.perf_counter()
    regressor = SyntheticAgeRegressor.train(
        args.size, train_ids, args.images_per_identity, args.regressor_epochs, args.batch_size, args.seed
    )
    train_seconds = time.perf_counter() - start
    test_pairs = training_pairs(test_ids, 5, args.seed + 1)
    predicted = regressor.predict_ages(render_batch(test_pairs, args.size, args.seed))
    ages = np.array([age for _, age in test_pairs], np.float32)
    mae = float(np.mean(np.abs(predicted - ages)))
    return mae, len(train_ids) * args.images_per_identity, len(test_pairs), train_seconds


def identity_matching_accuracy(train_ids, test_ids, args):
    """Trains the package's synthetic identity embedder (a CosFace head on a unit-length
    128-d embedding, face mask only; the one `evaluate` uses); top-1 young-gallery /
    old-probe accuracy on test identities by cosine similarity."""
    embedder = SyntheticIdentityEmbedder.train(
        args.size, train_ids, args.images_per_identity, args.epochs, args.batch_size, args.seed
    )
    rng = np.random.default_rng(args.seed)
    young = rng.uniform(5.0, 30.0, len(test_ids))
    old = young + rng.uniform(30.0, 60.0, len(test_ids))  # <= 90

    def embed(ages):
        return embedder.embed(*render_face_only(list(zip(test_ids, ages)), args.size, args.seed))

    similarity = embed(old) @ embed(young).T  # probes x gallery, cosine
    accuracy = float(np.mean(np.argmax(similarity, axis=1) == np.arange(len(test_ids))))
    return accuracy, float(np.min(old - young))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64, help="image size for the learnability part")
    parser.add_argument("--regressor-epochs", type=int, default=8,
                        help="age regressor epochs (8 keep its training under 3 minutes on 2 CPU cores)")
    parser.add_argument("--parts", nargs="+", default=["throughput", "age", "identity"],
                        choices=["throughput", "age", "identity"], help="which measurements to run")
    args = parser.parse_args()
    args.train_identities = 120 if args.quick else 600
    args.test_identities = 100
    args.images_per_identity = 4 if args.quick else 8
    args.epochs = 3 if args.quick else 10
    args.regressor_epochs = 3 if args.quick else args.regressor_epochs
    args.batch_size = 64
    throughput_count = 300 if args.quick else 2000

    print(f"synthetic aging faces benchmark (seed {args.seed}{', quick' if args.quick else ''})")
    start = time.perf_counter()
    for size in (64, 128) if "throughput" in args.parts else ():
        rate = render_throughput(size, throughput_count, args.seed)
        print(f"render throughput {size:>3} px: {rate:7.0f} images/s (one process, {throughput_count} images)")
        print(f"  elapsed {time.perf_counter() - start:.1f} s", flush=True)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    num_identities = args.train_identities + args.test_identities
    train_ids, test_ids = synthetic_faces.split_identities(
        num_identities, args.test_identities / num_identities, args.seed
    )

    if "age" in args.parts:
        start = time.perf_counter()
        mae, train_count, test_count, train_seconds = age_regression_mae(train_ids, test_ids, args)
        print(
            f"age regression ({args.size} px, {train_count} train images of {len(train_ids)} identities, "
            f"{args.regressor_epochs} epochs, {test_count} test images of {len(test_ids)} unseen identities): "
            f"MAE {mae:.2f} years"
        )
        print(f"  trained in {train_seconds:.1f} s (rendering included); elapsed {time.perf_counter() - start:.1f} s",
              flush=True)
    if "identity" not in args.parts:
        return
    start = time.perf_counter()
    accuracy, min_gap = identity_matching_accuracy(train_ids, test_ids, args)
    print(
        f"identity matching ({args.size} px, face mask only, {len(test_ids)} unseen identities, "
        f"gallery age 5-30, probe >= {min_gap:.0f} years older): top-1 {100 * accuracy:.1f}%"
    )
    print(f"  elapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
