"""How well a trained RAGAN ages synthetic faces, against their exact ground truth.

For test identities (never seen in training), each face is transformed to
every other age group with the run's EMA generator, and compared with
`render(identity, anchor age of the target group)`:

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
from ragan_tf.evaluation.evaluate import render_truth, synthetic_test_set  # noqa: E402
from ragan_tf.evaluation.image_metrics import l1_error, masked_psnr  # noqa: E402
from ragan_tf.data.age_groups import get_scheme  # noqa: E402
from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor  # noqa: E402
from ragan_tf.models.ragan.ragan_family import build_generator  # noqa: E402
from ragan_tf.sampling import aging_grid  # noqa: E402
from ragan_tf.visualization import save_png, to_uint8  # noqa: E402


def evaluate(generator, regressor, config, evaluation_set):
    """Mean metrics over every (face, other target group) pair, plus the same for baselines."""
    scheme = get_scheme(config.data.age_groups)
    size, non_face_labels = config.data.image_size, config.data.non_face_labels
    source_groups = scheme.group_of(evaluation_set.ages)
    inputs = to_uint8(evaluation_set.images)
    rows = {name: {"in_group": [], "face_l1": [], "background_psnr": []}
            for name in ("RAGAN", "identity", "untrained", "ground truth")}
    for group, target_age in enumerate(scheme.anchor_ages):
        keep = np.flatnonzero(source_groups != group)
        if not keep.size:
            continue
        truth, truth_masks = render_truth(evaluation_set, keep, float(target_age), size, non_face_labels)
        face_region = np.maximum(evaluation_set.masks[keep], truth_masks)[..., 0]
        outputs = {  # float in [-1, 1]: the regressor sees the generator's unquantised output
            name: np.asarray(model(evaluation_set.images[keep], evaluation_set.masks[keep],
                                   np.full(len(keep), group, np.int32), training=False))
            for name, model in generator.items()
        }
        outputs["identity"] = evaluation_set.images[keep]
        outputs["ground truth"] = truth.astype(np.float32) / 127.5 - 1.0
        for name, floats in outputs.items():
            predicted_groups = scheme.group_of(np.clip(regressor.predict_ages(floats), 0, 120))
            output = to_uint8(floats)
            rows[name]["in_group"].extend(predicted_groups == group)
            rows[name]["face_l1"].extend(l1_error(output[k], truth[k], face_region[k]) for k in range(len(keep)))
            rows[name]["background_psnr"].extend(
                masked_psnr(output[k], inputs[i], 1.0 - face_region[k]) for k, i in enumerate(keep))
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
        "RAGAN": keras.saving.load_model(run / "inference_model.keras"),
        "untrained": build_generator(config),
    }
    train_ids, _ = synthetic_faces.split_identities(
        config.data.synthetic_identities, config.data.synthetic_test_fraction, config.data.synthetic_seed
    )
    regressor = SyntheticAgeRegressor.train(config.data.image_size, train_ids[: args.regressor_identities], epochs=args.regressor_epochs)
    print(f"age regressor trained on {min(args.regressor_identities, len(train_ids))} training identities in {time.perf_counter() - start:.0f} s")
    evaluation_set = synthetic_test_set(config.data, args.faces)
    results = evaluate(generators, regressor, config, evaluation_set)
    print(f"run {run}: {len(evaluation_set)} test faces x every other age group ({config.data.age_groups})")
    print("| output | in target group | face L1 vs ground truth (0-255) | background PSNR vs input (dB) |")
    print("| --- | --- | --- | --- |")
    for name, metrics in results.items():
        psnr = metrics["background_psnr"]
        psnr_text = "inf (identical)" if psnr > 99 else f"{psnr:.1f}"
        print(f"| {name} | {metrics['in_group']:.1%} | {metrics['face_l1']:.1f} | {psnr_text} |")
    if args.grid:
        labels = get_scheme(config.data.age_groups).labels
        picture = aging_grid(generators["RAGAN"], evaluation_set.images[:8], evaluation_set.masks[:8], labels,
                             source_groups=get_scheme(config.data.age_groups).group_of(evaluation_set.ages[:8]),
                             title=f"{run.name}: EMA generator on unseen test identities")
        print(f"wrote {save_png(picture, args.grid)}")
    print(f"elapsed {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
