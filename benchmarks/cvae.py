"""The conditional beta-VAE's trade-off: disentanglement (MIG) against reconstruction, per beta,
and how well each aging mode ages a face, on the synthetic faces (the only data with known factors).

    python benchmarks/cvae.py [--betas 1 4 8] [--epochs 40] [--steps 150] [--warmup-steps 0] [--faces 2000]
                              [--out runs/cvae_study]

For each beta, trains `pipelines/cvae_synthetic_64.yaml` (`model.beta=B`, and
`model.beta_warmup_steps` from `--warmup-steps`: ours, off by default as in the seed) for
`--epochs` x `--steps`, then on `--faces` faces of the synthetic test split
(identities never trained on, ages drawn as the dataset draws them):

- MIG (`ragan_tf.evaluation.mig`) of the posterior means against the
  renderer's factors: age (binned), gender, hair style, beard style, collar
  style (discrete), skin tone, hair colour (mean RGB), head aspect, eye size,
  greying onset (binned);
- active units: latent dimensions whose posterior mean varies over the faces (variance > 0.01,
  Burda et al. 2016);
- reconstruction D(mu, c) vs x: MSE (on [-1, 1]) and L1 (0-255);
- aging, both modes (`condition`, `shift`) with the source age group and
  gender given: every face to every other age group, judged by the
  synthetic age regressor trained on training identities: MAE to the
  target's anchor age and share in the target group; beside it the
  unchanged input.

Prints one table (Markdown) with a row per beta and the unchanged input, and writes an aging
grid of six test faces per mode for the first beta to `--out`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONTINUOUS = ("age", "skin_tone", "hair_colour", "head_aspect", "eye_size", "greying_onset")
DISCRETE = ("gender", "hair_style", "beard_style", "collar_style")


def factors_of(identities, ages, seed):
    """[N, K] ground-truth factors of rendered faces, and their names."""
    from ragan_tf.data.synthetic_faces import identity_traits

    rows = []
    codes = {name: {} for name in DISCRETE}
    for identity, age in zip(identities, ages):
        traits = identity_traits(int(identity), seed)
        values = {"age": age, "skin_tone": float(np.mean(traits.skin_colour)),
                  "hair_colour": float(np.mean(traits.hair_colour)), "head_aspect": traits.head_aspect,
                  "eye_size": traits.eye_size_ratio, "greying_onset": traits.greying_onset,
                  "gender": traits.gender, "hair_style": traits.hair_style, "beard_style": traits.beard_style,
                  "collar_style": traits.collar_style}
        for name in DISCRETE:
            values[name] = codes[name].setdefault(values[name], len(codes[name]))
        rows.append([values[name] for name in CONTINUOUS + DISCRETE])
    return np.array(rows, np.float64), CONTINUOUS + DISCRETE


def run_name(beta, warmup_steps):
    """The run folder of one beta under --out."""
    return f"beta_{beta}" + (f"_warmup_{warmup_steps}" if warmup_steps else "")


def train_one(beta, warmup_steps, epochs, steps, out):
    from ragan_tf.config import load_config
    from ragan_tf.training.train import train

    config = load_config(REPO / "pipelines" / "cvae_synthetic_64.yaml",
                         [f"model.beta={beta}", f"model.beta_warmup_steps={warmup_steps}",
                          f"training.epochs={epochs}", f"training.steps_per_epoch={steps}",
                          f"runtime.run_dir={out / run_name(beta, warmup_steps)}", "training.sample_every_steps=0"])
    start = time.perf_counter()
    train(config, verbose=0)
    return config, time.perf_counter() - start


def measure(config, run_dir, evaluation_set, factors, names, estimator, scheme):
    import keras

    from ragan_tf.evaluation.age_estimators import age_group_metrics
    from ragan_tf.evaluation.mig import mig
    from ragan_tf.visualization import to_uint8

    ager = keras.models.load_model(run_dir / "inference_model.keras")
    images, ages = evaluation_set.images, evaluation_set.ages
    source = scheme.group_of(ages).astype("int32")
    gender = evaluation_set.genders  # the renderer's 0 / 1 (the factor column holds arbitrary codes)
    mu = np.concatenate([np.asarray(ager.encode(images[i:i + 256], source[i:i + 256], gender[i:i + 256])[0])
                         for i in range(0, len(images), 256)])
    disentanglement = mig(mu, factors, continuous=tuple(range(len(CONTINUOUS))), names=names)
    reconstruction = np.concatenate([np.asarray(ager(images[i:i + 256], None, source[i:i + 256],
                                                     source_age=source[i:i + 256], gender=gender[i:i + 256]))
                                     for i in range(0, len(images), 256)])
    row = {"mig": disentanglement["mig"], "mse": float(np.mean((reconstruction - images) ** 2)),
           "l1_0_255": float(np.mean(np.abs(to_uint8(reconstruction).astype(float) - to_uint8(images))))}
    best = max(disentanglement["gaps"], key=disentanglement["gaps"].get)
    row["best_factor"] = f"{best} ({disentanglement['gaps'][best]:.2f})"
    row["age_gap"] = disentanglement["gaps"]["age"]
    # Active units (Burda et al. 2016): latent dimensions whose posterior mean varies over the faces
    # (variance > 0.01); the others carry nothing (their posterior is the prior).
    row["active_units"] = int(np.sum(np.var(mu, axis=0) > 0.01))
    aging = {}
    for mode in ("condition", "shift"):
        ager.aging = mode
        predicted, targets = [], []
        for group in range(scheme.num_groups):
            others = np.flatnonzero(source != group)
            target = np.full(len(others), group, "int32")
            outputs = np.concatenate([np.asarray(ager(images[others[i:i + 256]], None, target[i:i + 256],
                                                      source_age=source[others[i:i + 256]],
                                                      gender=gender[others[i:i + 256]]))
                                      for i in range(0, len(others), 256)])
            predicted.append(estimator.predict_ages(to_uint8(outputs)))
            targets.append(target)
        metrics = age_group_metrics(np.concatenate(predicted), np.concatenate(targets), scheme)
        aging[mode] = (metrics["mae_to_anchor"], metrics["in_group_share"])
    return row, aging, ager


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup-steps", type=int, default=0,
                        help="model.beta_warmup_steps: beta grows linearly from 0 over these steps (ours; 0: off)")
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "cvae_study")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the existing runs in --out (their train s from their history) without training")
    parser.add_argument("--pictures-only", action="store_true",
                        help="only write the grids and GIFs of the first beta's existing run in --out")
    args = parser.parse_args()

    from ragan_tf.config import load_config
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.age_estimators import SyntheticAgeEstimator, age_group_metrics
    from ragan_tf.evaluation.evaluate import synthetic_test_set
    from ragan_tf.data import synthetic_faces
    from ragan_tf.visualization import to_uint8

    data = load_config(REPO / "pipelines" / "cvae_synthetic_64.yaml").data
    scheme = get_scheme(data.age_groups)
    evaluation_set = synthetic_test_set(data, args.faces)
    if args.pictures_only:
        write_pictures(args.out / run_name(args.betas[0], args.warmup_steps), evaluation_set, scheme, args.out,
                       f"beta{args.betas[0]:g}")
        return
    factors, names = factors_of(evaluation_set.identities, evaluation_set.ages, data.synthetic_seed)
    train_ids, _ = synthetic_faces.split_identities(data.synthetic_identities, data.synthetic_test_fraction,
                                                    data.synthetic_seed)
    estimator = SyntheticAgeEstimator.train(data.image_size, train_ids[:300], epochs=8, seed=data.synthetic_seed)
    source = scheme.group_of(evaluation_set.ages)
    unchanged = []
    for group in range(scheme.num_groups):
        others = source != group
        unchanged.append((estimator.predict_ages(to_uint8(evaluation_set.images[others])),
                          np.full(int(others.sum()), group)))
    baseline = age_group_metrics(np.concatenate([p for p, _ in unchanged]), np.concatenate([t for _, t in unchanged]),
                                 scheme)
    print(f"{len(evaluation_set)} synthetic test faces; factors: {', '.join(names)}; "
          f"beta warm-up: {args.warmup_steps or 'none'}")
    results = []
    for beta in args.betas:
        if args.measure_only:
            from ragan_tf.config import load_config as load

            config, seconds = load(args.out / run_name(beta, args.warmup_steps) / "config.yaml"), float("nan")
        else:
            config, seconds = train_one(beta, args.warmup_steps, args.epochs, args.steps, args.out)
        row, aging, ager = measure(config, args.out / run_name(beta, args.warmup_steps), evaluation_set, factors,
                                   names, estimator, scheme)
        results.append((beta, seconds, row, aging))
        print(f"beta {beta:g}: trained {args.epochs * args.steps} steps in {seconds:.0f} s; {row}; aging {aging}",
              flush=True)
    print("\n| beta | MIG | MIG gap of age | best-isolated factor | active units | reconstruction MSE ([-1, 1]) | "
          "L1 (0-255) | age MAE, condition | in group, condition | age MAE, shift | in group, shift | train s |")
    print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for beta, seconds, row, aging in results:
        print(f"| {beta:g} | {row['mig']:.3f} | {row['age_gap']:.3f} | {row['best_factor']} | "
              f"{row['active_units']} | {row['mse']:.4f} | "
              f"{row['l1_0_255']:.1f} | {aging['condition'][0]:.1f} | {aging['condition'][1]:.1%} | "
              f"{aging['shift'][0]:.1f} | {aging['shift'][1]:.1%} | {seconds:.0f} |")
    print(f"| unchanged input | | | | | | | {baseline['mae_to_anchor']:.1f} | {baseline['in_group_share']:.1%} | | | |")
    write_pictures(args.out / run_name(args.betas[0], args.warmup_steps), evaluation_set, scheme, args.out,
                   f"beta{args.betas[0]:g}")


def write_pictures(run_dir, evaluation_set, scheme, out, stem):
    """Per aging mode: the grid of six test faces and the GIF of one face across ages."""
    for mode in ("condition", "shift"):
        print(f"Wrote {save_grid(run_dir, evaluation_set, scheme, mode, out / f'grid_{stem}_{mode}.png')}")
        print(f"Wrote {save_sweep(run_dir, evaluation_set, scheme, mode, out / f'sweep_{stem}_{mode}.gif')}")


def load_ager(run_dir, mode):
    import keras

    from ragan_tf.models.registry import get_family

    get_family("cvae")  # registers the classes for loading
    ager = keras.models.load_model(run_dir / "inference_model.keras")
    ager.aging = mode
    return ager


def save_grid(run_dir, evaluation_set, scheme, mode, path):
    """Six test faces spread over the ages, each to every age group, with their own age group and gender."""
    from ragan_tf.data.age_groups import spread_indices
    from ragan_tf.sampling import aging_grid
    from ragan_tf.visualization import save_png

    ager = load_ager(run_dir, mode)
    index = spread_indices(evaluation_set.ages, 6)
    source = scheme.group_of(evaluation_set.ages[index]).astype("int32")
    gender = evaluation_set.genders[index]
    picture = aging_grid(lambda images, masks, groups, training=False: ager(
        images, masks, groups, source_age=source, gender=gender), evaluation_set.images[index],
        evaluation_set.masks[index], scheme.labels, source_groups=source,
        title=f"conditional VAE ({run_dir.name}), aging by {mode}")
    return save_png(picture, path)


def save_sweep(run_dir, evaluation_set, scheme, mode, path, frames=16, side=128):
    """An animated GIF of the youngest test face across continuous ages, first to last anchor:
    the contract's group weights mix the neighbouring groups' conditions (or shift vectors)."""
    import cv2

    from ragan_tf.data.age_groups import age_group_weights
    from ragan_tf.inference.outputs import gif_frames, save_gif
    from ragan_tf.visualization import to_uint8

    ager = load_ager(run_dir, mode)
    face = int(np.argmin(evaluation_set.ages))
    ages = np.linspace(scheme.anchor_ages[0], scheme.anchor_ages[-1], frames)
    weights = np.asarray(age_group_weights(ages, scheme.anchor_ages), "float32")
    images = np.repeat(evaluation_set.images[face:face + 1], frames, 0)
    masks = np.repeat(evaluation_set.masks[face:face + 1], frames, 0)
    source = np.full(frames, scheme.group_of(evaluation_set.ages[face:face + 1])[0], "int32")
    gender = np.full(frames, evaluation_set.genders[face], "int32")
    aged = to_uint8(ager(images, masks, weights, source_age=source, gender=gender))
    enlarged = [cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC) for image in aged]
    save_gif(gif_frames(ages, enlarged), path)
    return path


if __name__ == "__main__":
    main()
