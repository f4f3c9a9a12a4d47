"""Learning curves of an age transformer on the exact-truth synthetic benchmark.

Trains a pipeline for a fixed number of steps (a fresh run: an old run folder
is deleted) and measures the EMA generator every `--eval-every` steps on
unseen test identities with the evaluation's main figures: age error to the
target group's anchor and share in the target group (synthetic age
estimator), identity kept (synthetic identity embedder, share of pairs under
its equal-error threshold), face error (L1, 0-255) against the exact aged
render, background PSNR and the reconstruction error at the source group.
The estimator and embedder are trained first on training identities only
(their time is not counted). `train_seconds` is the wall-clock of training
alone (fit's validation and grids included, these evaluations excluded).

    python benchmarks/ragan_convergence.py train pipelines/ragan_synthetic_quickstart.yaml \\
        --steps 2000 --eval-every 250 --out checkpoints/convergence/quickstart
    python benchmarks/ragan_convergence.py train pipelines/ragan_synthetic_quickstart.yaml \\
        --set model.lambda_age_cls=1.0 --steps 1000 --out checkpoints/convergence/age_cls
    python benchmarks/ragan_convergence.py plot checkpoints/convergence/* --out docs/images/ragan_curves.png
    python benchmarks/ragan_convergence.py table checkpoints/convergence/* --steps 1000 2000 6000 20000
    python benchmarks/ragan_convergence.py reference pipelines/ragan_synthetic_64.yaml   # ceilings

Each run folder gets `curve.csv` (one row per evaluation) besides the usual
run files; `plot` draws every run's curves against steps and against
training minutes, with the issue's targets as dashed lines.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: (curve.csv column, axis title, target, higher is better)
FIGURES = (
    ("age_mae_to_anchor", "age error to target anchor (years)", 8.0, False),
    ("face_l1_vs_truth", "face L1 vs exact truth (0-255)", 15.0, False),
    ("identity_verified", "identity kept (share)", 0.95, True),
    ("background_psnr_db", "background PSNR (dB)", 35.0, True),
    ("age_in_group_share", "outputs in target group (share)", None, True),
    ("reconstruction_l1", "reconstruction L1 at source group (0-255)", None, False),
)


def _curve_callback(metrics, evaluation_set, scheme, config, path, previous_rows=()):
    import keras
    import pandas as pd

    from ragan_tf.evaluation.callback import EvaluationCallback

    class LearningCurve(keras.callbacks.Callback):
        """Evaluates at the start and after every epoch; appends a row to `curve.csv`."""

        def __init__(self):
            super().__init__()
            self.evaluator = EvaluationCallback(evaluation_set, scheme, path.parent / "logs", 0, metrics,
                                                tuple(config.data.non_face_labels))
            self.rows = list(previous_rows)  # a resumed run's curve so far
            self.offset = self.rows[-1]["train_seconds"] if self.rows else 0.0

        def _measure(self):
            paused = time.perf_counter()
            step = int(self.model.train_step_count.numpy())
            if self.rows and self.rows[-1]["step"] == step:  # resumed where the curve stands
                return
            values = self.evaluator.evaluate_network(self.model.inference_model)
            row = {"step": step, "train_seconds": self.offset + paused - self.start - self.excluded, **values}
            self.rows.append(row)
            pd.DataFrame(self.rows).to_csv(path, index=False)
            print("  ".join(f"{key} {value:.4g}" for key, value in row.items()), flush=True)
            self.excluded += time.perf_counter() - paused

        def on_train_begin(self, logs=None):
            self.start, self.excluded = time.perf_counter(), 0.0
            self._measure()

        def on_epoch_end(self, epoch, logs=None):
            self._measure()

    return LearningCurve()


def train_command(args):
    from ragan_tf.config import load_config
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.evaluate import synthetic_metrics, synthetic_test_set
    from ragan_tf.training.train import steps_per_epoch, train

    config = load_config(args.pipeline, args.set)
    if config.data.dataset != "synthetic":
        sys.exit(f"error: {args.pipeline}: the convergence benchmark needs the synthetic dataset (exact truth).")
    if args.steps % args.eval_every:
        sys.exit(f"error: --steps {args.steps} must be a multiple of --eval-every {args.eval_every}.")
    # Epochs become evaluation periods; schedules written in epochs keep their position in steps.
    pipeline_steps = steps_per_epoch(config)
    if hasattr(config.model, "lambda_rec_switch_epoch"):
        switch_step = config.model.lambda_rec_switch_epoch * pipeline_steps
        config.model.lambda_rec_switch_epoch = round(switch_step / args.eval_every)
    config.training.steps_per_epoch = args.eval_every
    config.training.epochs = args.steps // args.eval_every
    config.training.evaluate_every_epochs = 0
    out = Path(args.out)
    previous_rows = []
    if args.resume:
        if not (out / "curve.csv").exists():
            sys.exit(f"error: --resume: {out} holds no curve.csv to continue.")
        import pandas as pd

        previous_rows = pd.read_csv(out / "curve.csv").to_dict("records")
    elif out.exists():
        shutil.rmtree(out)  # a fresh run, never resumed from an older backup
    config.runtime.run_dir = str(out)
    print(f"{args.pipeline} {' '.join(args.set)}: {args.steps} steps, evaluated every {args.eval_every}", flush=True)
    start = time.perf_counter()
    metrics = synthetic_metrics(config.data, verbose=True)
    print(f"metrics ready in {time.perf_counter() - start:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=args.resume)
    callback = _curve_callback(metrics, synthetic_test_set(config.data, args.faces), get_scheme(config.data.age_groups),
                               config, out / "curve.csv", previous_rows)
    model, _ = train(config, verbose=2, extra_callbacks=[callback])
    print(f"wrote {out / 'curve.csv'}")
    if getattr(model, "generator", None) is not None and model.generator is not model.inference_model:
        # The EMA question: the same figures for the raw (non-averaged) generator at the end.
        values = callback.evaluator.evaluate_network(model.generator)
        print("raw generator (no EMA) at the end: " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()))
        (out / "raw_generator.json").write_text(json.dumps(values, indent=1))


def reference_command(args):
    """The same figures for the exact aged renders (each figure's ceiling) and for output = input."""
    import numpy as np
    import pandas as pd

    from ragan_tf.config import load_config
    from ragan_tf.data import synthetic_faces
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.evaluate import (evaluate_rows, identity_function, markdown_table, summarize,
                                              synthetic_metrics, synthetic_test_set)

    config = load_config(args.pipeline)
    scheme = get_scheme(config.data.age_groups)
    metrics = synthetic_metrics(config.data, verbose=True)
    evaluation_set = synthetic_test_set(config.data, args.faces)
    identity_of = {image.tobytes(): int(identity) for image, identity in zip(evaluation_set.images,
                                                                               evaluation_set.identities)}

    def exact_truth(images, masks, groups):
        renders, _ = synthetic_faces.render_faces(
            [identity_of[image.tobytes()] for image in images], [float(scheme.anchor_ages[g]) for g in groups],
            config.data.image_size, evaluation_set.seed, config.data.non_face_labels)
        return renders.astype(np.float32) / 127.5 - 1.0

    rows = {}
    for name, function in (("exact truth", exact_truth), ("identity (output = input)", identity_function)):
        frame, _, _ = evaluate_rows(function, evaluation_set, scheme, metrics, non_face_labels=config.data.non_face_labels,
                                    progress=False)
        summary = summarize(pd.DataFrame(frame), scheme, metrics.identity_embedder.threshold)
        rows[name] = {key: summary.loc["overall", key] for key, *_ in FIGURES if key in summary.columns}
    print(markdown_table(pd.DataFrame(rows).T))


def _curves(runs):
    import pandas as pd

    curves = {}
    for run in runs:
        path = Path(run) / "curve.csv"
        if not path.exists():
            sys.exit(f"error: {run}: no curve.csv (run `ragan_convergence.py train` first).")
        curves[Path(run).name] = pd.read_csv(path)
    return curves


def table_command(args):
    curves = _curves(args.runs)
    columns = [name for name, *_ in FIGURES]
    print("| run | step | train min | " + " | ".join(columns) + " |")
    print("|" + " --- |" * (len(columns) + 3))
    for name, curve in curves.items():
        for step in args.steps:
            rows = curve[curve.step == step]
            if not len(rows):
                continue
            row = rows.iloc[0]
            cells = [f"{row[column]:.3g}" if column in row else "-" for column in columns]
            print(f"| {name} | {step} | {row.train_seconds / 60:.1f} | " + " | ".join(cells) + " |")


def plot_command(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(args.runs)
    figure, axes = plt.subplots(2, len(FIGURES), figsize=(4 * len(FIGURES), 7.5), squeeze=False)
    for column, (key, title, target, _) in enumerate(FIGURES):
        for row, (x_key, x_label, scale) in enumerate((("step", "training steps", 1.0),
                                                        ("train_seconds", "training minutes (2-core CPU)", 60.0))):
            axis = axes[row, column]
            for name, curve in curves.items():
                if key in curve:
                    axis.plot(curve[x_key] / scale, curve[key], marker=".", label=name)
            if target is not None:
                axis.axhline(target, color="k", linestyle="--", linewidth=0.8, label="target")
            axis.set_xlabel(x_label)
            axis.set_title(title, fontsize=10)
            axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(args.title)
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train one pipeline and record its learning curve")
    run.add_argument("pipeline")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    run.add_argument("--steps", type=int, required=True)
    run.add_argument("--eval-every", type=int, default=250)
    run.add_argument("--faces", type=int, default=48, help="test faces, each aged to every group")
    run.add_argument("--out", required=True, help="run folder (deleted first if it exists, unless --resume)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its backup to --steps (same pipeline and --set; the "
                          "curve continues, its training time adds up)")
    run.set_defaults(function=train_command)
    reference = commands.add_parser("reference", help="the figures of the exact truth and of output = input")
    reference.add_argument("pipeline")
    reference.add_argument("--faces", type=int, default=48)
    reference.set_defaults(function=reference_command)
    plot = commands.add_parser("plot", help="draw the curves of run folders")
    plot.add_argument("runs", nargs="+")
    plot.add_argument("--out", required=True)
    plot.add_argument("--title", default="RAGAN learning curves on the exact-truth synthetic benchmark (64 px)")
    plot.set_defaults(function=plot_command)
    table = commands.add_parser("table", help="print the figures of run folders at given steps")
    table.add_argument("runs", nargs="+")
    table.add_argument("--steps", type=int, nargs="+", default=[2000, 6000, 20000])
    table.set_defaults(function=table_command)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    main()
