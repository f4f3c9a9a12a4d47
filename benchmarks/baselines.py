"""The six families side by side: each trained for the same wall-clock budget on the synthetic
faces at 64 px on this CPU, then evaluated with `ragan-tf evaluate`'s code.

Rows and what each checks:

- RAGAN quick start (age transformer): age error to the target group's anchor, identity kept,
  face error against the exact aged render, background PSNR, SWD.
- encoder + conditional DCGAN (age transformer and sampler; seed 000): the same aging figures,
  its latent regression loss (seed 000 reports ~0.6), G(E(x), y) reconstruction, the predicted
  age gap between its two groups' samples (seed 000: little visible difference) and the
  sharpness of G(E(x), y) against G(z, y) (seed 000: blurrier after the encoder).
- DCGAN and vanilla GAN (samplers; seed 003): SWD against real test faces and the predicted
  ages of their samples (seed 003: DCGAN clearly better than the vanilla GAN).
- conditional beta-VAE (age transformer; seed 004): the aging figures, given each test face's
  own age group and gender, in the pipeline's aging mode (`condition`).
- Age-cGAN (age transformer and sampler; seed 001): the aging figures with the paper's
  identity-preserving latent optimisation (L-BFGS-B, dlib's descriptor), and its samples.

Every run gets `--budget-minutes` of training from the first step (compilation included; the
synthetic dataset is generated before the clock starts); the encoder + conditional DCGAN spends
the last quarter of its budget in the encoder phase.

    python benchmarks/baselines.py --budget-minutes 6
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.data.age_groups import get_scheme  # noqa: E402
from ragan_tf.evaluation.evaluate import (  # noqa: E402
    draw_samples,
    evaluate,
    load_model_functions,
    synthetic_metrics,
    synthetic_test_set,
)
from ragan_tf.evaluation.swd import swd  # noqa: E402
from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import switch_phase  # noqa: E402
from ragan_tf.training.train import train  # noqa: E402
from ragan_tf.visualization import to_uint8  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINES = {
    "ragan": "ragan_synthetic_quickstart.yaml",
    "encoder_cdcgan": "encoder_cdcgan_synthetic_64.yaml",
    "dcgan": "dcgan_synthetic_64.yaml",
    "vanilla_gan": "vanilla_gan_synthetic_64.yaml",
    "cvae": "cvae_synthetic_64.yaml",
    "age_cgan": "age_cgan_synthetic_64.yaml",
}
#: Families trained in a GAN phase, then an encoder phase (the last ENCODER_SHARE of the budget).
PHASED = ("encoder_cdcgan", "age_cgan")
ENCODER_SHARE = 0.25


class TimeBudget(keras.callbacks.Callback):
    """Stops training `seconds` after the first step began; a phased model moves to its encoder
    phase when `1 - ENCODER_SHARE` of the budget is spent."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.start = None
        self.steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = time.perf_counter() - self.start
        if getattr(self.model, "phase", None) == "gan" and elapsed > (1 - ENCODER_SHARE) * self.seconds:
            switch_phase(self.model, "encoder", f"{elapsed:.0f} s")
        if elapsed > self.seconds:
            self.model.stop_training = True


def sharpness(images):
    """Mean variance of the Laplacian of the grey image (higher = sharper), uint8 [N, S, S, 3]."""
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
                          for image in images]))


def train_family(family, budget_seconds, run_root):
    if (run_root / family).exists():  # a benchmark run starts from scratch, never from an old backup
        shutil.rmtree(run_root / family)
    config = load_config(REPO / "pipelines" / PIPELINES[family],
                         [f"runtime.run_dir={run_root / family}", "training.epochs=1000",
                          *(["model.encoder_epochs=1"] if family in PHASED else [])])
    budget = TimeBudget(budget_seconds)
    start = time.perf_counter()
    model, history = train(config, verbose=2, extra_callbacks=[budget])
    return config, {"train_seconds": round(time.perf_counter() - start, 1), "steps": budget.steps,
                    "last_epoch": {key: float(values[-1]) for key, values in history.history.items()}}


def reference_rows(data, count):
    """SWD of two references against the same real test faces: other real test faces (the floor
    at this sample size) and uniform noise images (what no structure scores)."""
    real = to_uint8(synthetic_test_set(data, count).images)
    others = to_uint8(synthetic_test_set(data, 2 * count).images[count:])
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    rows = {}
    for name, images in (("real_vs_real", others), ("uniform_noise", noise)):
        distances = swd(real, images)
        rows[name] = {"sample_swd": distances.pop("swd_mean"), **{f"sample_{k}": v for k, v in distances.items()}}
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-minutes", type=float, default=6.0)
    parser.add_argument("--families", nargs="+", default=list(PIPELINES), choices=list(PIPELINES))
    parser.add_argument("--runs", default=str(REPO / "checkpoints" / "baselines"))
    parser.add_argument("--out", default=str(REPO / "docs" / "evaluation" / "baselines"))
    parser.add_argument("--images", default=str(REPO / "docs" / "images"))
    parser.add_argument("--count", type=int, default=100, help="test faces (and samples per group)")
    parser.add_argument("--train", nargs="*", default=None, choices=list(PIPELINES),
                        help="families to (re)train; default: all of --families; the others are evaluated "
                             "from their existing runs and keep their recorded training figures")
    parser.add_argument("--references-only", action="store_true",
                        help="only (re)compute the reference rows (real vs real, uniform noise)")
    args = parser.parse_args()
    run_root, out_root, images = Path(args.runs), Path(args.out), Path(args.images)

    recorded = out_root / "results.json"
    results = json.loads(recorded.read_text()) if recorded.is_file() else {}
    data = load_config(REPO / "pipelines" / PIPELINES["ragan"]).data
    if args.references_only:
        results.update(reference_rows(data, args.count))
        recorded.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps({key: results[key] for key in ("real_vs_real", "uniform_noise")}, indent=1))
        return
    for family in args.families if args.train is None else args.train:
        print(f"\n=== {family}: training for {args.budget_minutes:g} min", flush=True)
        config, results[family] = train_family(family, args.budget_minutes * 60, run_root)

    metrics = synthetic_metrics(data)
    for family in args.families:
        print(f"\n=== {family}: evaluation", flush=True)
        folder = out_root / family
        summaries = evaluate(run_root / family, folder, count=args.count, baselines=(), metrics=metrics)
        row = {key: results[family][key] for key in ("train_seconds", "steps", "last_epoch")}
        results[family] = row
        if "model" in summaries:
            overall = summaries["model"].loc["overall"]
            row.update({key: float(overall[key]) for key in ("age_mae_to_anchor", "age_in_group_share",
                        "identity_verified", "face_l1_vs_truth", "background_psnr_db", "swd") if key in overall})
            row["reconstruction_l1"] = summaries["model"].attrs.get("reconstruction_l1")
            (images / f"baselines_{family}.png").write_bytes((folder / "examples.png").read_bytes())
        if "model/sampler" in summaries:
            sampler = summaries["model/sampler"]
            label = "overall" if "overall" in sampler.index else "all"
            row["sample_swd"] = float(sampler.loc[label, "swd"])
            row.update({f"sample_{key}": float(sampler.loc[label, key]) for key in sampler.columns
                        if key.startswith("swd_")})
            row["sample_ages"] = {str(k): float(v) for k, v in sampler["mean_predicted_age"].items()}
            sampler_folder = folder / "sampler" if "model" in summaries else folder
            (images / f"baselines_{family}_samples.png").write_bytes((sampler_folder / "samples.png").read_bytes())
        if family in PHASED:  # the latent regression, and G(E(x), y) against G(z, y)
            functions, run_config = load_model_functions(run_root / family)
            test_set = synthetic_test_set(run_config.data, args.count)
            scheme = get_scheme(run_config.data.age_groups)
            groups = np.maximum(scheme.group_of(test_set.ages), 0)
            encoded = to_uint8(functions.age_transformer(test_set.images, test_set.masks, groups))
            samples = np.concatenate(list(draw_samples(functions.sampler, functions.noise_dim, True, scheme,
                                                       args.count).values()))
            row["sharpness_generated"] = sharpness(samples)
            row["sharpness_encoded"] = sharpness(encoded)
            row["sharpness_input"] = sharpness(to_uint8(test_set.images))
            row["latent_regression_loss"] = row["last_epoch"].get("encoder_loss")
            row["val_latent_regression_loss"] = row["last_epoch"].get("val_encoder_loss")
        print(json.dumps({family: row}, indent=1), flush=True)
    results.update(reference_rows(data, args.count))
    out_root.mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(results, indent=1) + "\n")
    table = pd.DataFrame({family: {key: value for key, value in row.items() if not isinstance(value, dict)}
                          for family, row in results.items()}).T
    print(table.to_string())


if __name__ == "__main__":
    main()
