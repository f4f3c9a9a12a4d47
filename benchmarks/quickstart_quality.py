"""How well a trained RAGAN ages synthetic faces, against their exact ground truth.

For test identities (never seen in training), each face is transformed to
every other age group with the run's EMA generator, and compared with
`render(identity, representative age of the target group)`:

- in target group: share of outputs that a synthetic age regressor (trained
  here on training identities) places in the target group;
- face L1: mean absolute error (0-255 scale) against the ground-truth render,
  over pixels that are face in the input or in the ground truth;
- background PSNR: between output and input, outside both face masks
  (background and clothing are identical at every age by construction).

Baselines printed next to it: `identity` (output = input), `untrained` (a
randomly initialised generator of the same config) and `ground truth` (the
exact renders: the regressor's own ceiling).

    python benchmarks/quickstart_quality.py --run checkpoints/ragan_synthetic_quickstart
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.data import synthetic_faces  # noqa: E402
from ragan_tf.data.age_groups import get_scheme  # noqa: E402
from ragan_tf.data.face_mask import face_mask_from_parsing  # noqa: E402
from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor  # noqa: E402
from ragan_tf.models.ragan.builders import build_generator  # noqa: E402
from ragan_tf.sampling import aging_grid  # noqa: E402
from ragan_tf.visualization import save_png, to_uint8  # noqa: E402


def test_faces(config, count):
    """`count` test-split faces: (identity, age, image [-1, 1], face mask) arrays."""
    data = config.data
    _, test_ids = synthetic_faces.split_identities(
        data.synthetic_identities, data.synthetic_test_fraction, data.synthetic_seed
    )
    faces = [
        synthetic_faces.render(int(identity), synthetic_faces.sample_age(int(identity), index, data.synthetic_seed),
                               data.image_size, data.synthetic_seed)
        for index in range(count // len(test_ids) + 1) for identity in test_ids
    ][:count]
    images = np.stack([face.image for face in faces]).astype(np.float32) / 127.5 - 1.0
    masks = np.stack([face_mask_from_parsing(face.parsing, data.non_face_labels) for face in faces])[..., None]
    return faces, images, masks


def evaluate(generator, regressor, config, faces, images, masks):
    """Mean metrics over every (face, other target group) pair, plus the same for baselines."""
    scheme = get_scheme(config.data.age_groups)
    target_ages = [float(age) for age in scheme.anchor_ages]
    source_groups = scheme.group_of([face.age for face in faces])
    rows = {name: {"in_group": [], "face_l1": [], "background_psnr": []}
            for name in ("RAGAN", "identity", "untrained", "ground truth")}
    for group, target_age in enumerate(target_ages):
        keep = np.flatnonzero(source_groups != group)
        if not keep.size:
            continue
        truth = [synthetic_faces.render(faces[i].identity, target_age, config.data.image_size, config.data.synthetic_seed)
                 for i in keep]
        truth_images = np.stack([t.image for t in truth]).astype(np.float32) / 127.5 - 1.0
        truth_masks = np.stack([face_mask_from_parsing(t.parsing, config.data.non_face_labels) for t in truth])[..., None]
        face_region = np.maximum(masks[keep], truth_masks)
        outputs = {
            name: np.asarray(model(images[keep], masks[keep], np.full(len(keep), group, np.int32), training=False))
            for name, model in generator.items()
        }
        outputs["identity"] = images[keep]
        outputs["ground truth"] = truth_images
        for name, output in outputs.items():
            predicted_groups = scheme.group_of(np.clip(regressor.predict_ages(output), 0, 120))
            rows[name]["in_group"].extend(predicted_groups == group)
            error = np.abs(to_uint8(output).astype(np.float32) - to_uint8(truth_images).astype(np.float32))
            rows[name]["face_l1"].extend((error * face_region).sum((1, 2, 3)) / (3 * face_region.sum((1, 2, 3))))
            background = 1.0 - face_region
            squared = (to_uint8(output).astype(np.float32) - to_uint8(images[keep]).astype(np.float32)) ** 2
            mse = (squared * background).sum((1, 2, 3)) / (3 * background.sum((1, 2, 3)))
            rows[name]["background_psnr"].extend(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10)))
    return {name: {key: float(np.mean(values)) for key, values in metrics.items()} for name, metrics in rows.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder written by ragan-tf train")
    parser.add_argument("--faces", type=int, default=120, help="test faces (each goes to every other group)")
    parser.add_argument("--regressor-identities", type=int, default=400)
    parser.add_argument("--regressor-epochs", type=int, default=12)
    parser.add_argument("--grid", help="also write an aging grid PNG of 8 test faces here")
    args = parser.parse_args()

    run = Path(args.run)
    config = load_config(run / "config.yaml")
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    generators = {
        "RAGAN": keras.saving.load_model(run / "generator_ema.keras"),
        "untrained": build_generator(config),
    }
    train_ids, _ = synthetic_faces.split_identities(
        config.data.synthetic_identities, config.data.synthetic_test_fraction, config.data.synthetic_seed
    )
    regressor = SyntheticAgeRegressor.train(config.data.image_size, train_ids[: args.regressor_identities], epochs=args.regressor_epochs)
    print(f"age regressor trained on {min(args.regressor_identities, len(train_ids))} training identities in {time.perf_counter() - start:.0f} s")
    faces, images, masks = test_faces(config, args.faces)
    results = evaluate(generators, regressor, config, faces, images, masks)
    print(f"run {run}: {len(faces)} test faces x every other age group ({config.data.age_groups})")
    print("| output | in target group | face L1 vs ground truth (0-255) | background PSNR vs input (dB) |")
    print("| --- | --- | --- | --- |")
    for name, metrics in results.items():
        psnr = metrics["background_psnr"]
        psnr_text = "inf (identical)" if psnr > 99 else f"{psnr:.1f}"
        print(f"| {name} | {metrics['in_group']:.1%} | {metrics['face_l1']:.1f} | {psnr_text} |")
    if args.grid:
        labels = get_scheme(config.data.age_groups).labels
        picture = aging_grid(generators["RAGAN"], images[:8], masks[:8], labels,
                             source_groups=get_scheme(config.data.age_groups).group_of([f.age for f in faces[:8]]),
                             title=f"{run.name}: EMA generator on unseen test identities")
        print(f"wrote {save_png(picture, args.grid)}")
    print(f"elapsed {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
