"""The `ragan-tf` command: a thin layer over functions the tests call directly.

Subcommands:
    show-dataset   picture of a dataset: identities x age groups, plus face masks
    train          train a pipeline YAML with Keras fit (resumes after interruption)
    export         a run's EMA generator -> SavedModel (+ model card, optional TFLite)
"""

import argparse
import os
import sys

from ragan_tf.config import ConfigError


def _show_dataset(args):
    from ragan_tf.data.preview import synthetic_preview
    from ragan_tf.visualization import save_png

    if args.dataset != "synthetic":
        raise ConfigError(
            f"show-dataset supports the embedded 'synthetic' dataset; got {args.dataset!r}."
        )
    picture = synthetic_preview(args.size, args.identities, args.age_groups, args.seed)
    print(f"Wrote {save_png(picture, args.out)} ({picture.shape[1]}x{picture.shape[0]} px).")


def _train(args):
    from ragan_tf.config import load_config
    from ragan_tf.training.train import train

    config = load_config(args.pipeline, args.overrides)
    train(config)


def _export(args):
    from ragan_tf.export import export_saved_model

    export_saved_model(args.run_dir, args.out, overwrite=args.overwrite, tflite=args.tflite)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ragan-tf", description="Re-Aging GAN and face-aging baselines in TensorFlow / Keras 3."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    show = commands.add_parser("show-dataset", help="write a picture of a dataset (identities x age groups)")
    show.add_argument("dataset", help="dataset name: synthetic")
    show.add_argument("--out", required=True, help="output PNG path")
    show.add_argument("--size", type=int, default=64, help="image size in pixels (32-256)")
    show.add_argument("--identities", type=int, default=6, help="rows: number of identities")
    show.add_argument("--age-groups", default="ffhq_aging", help="age-group scheme")
    show.add_argument("--seed", type=int, default=0, help="dataset seed")
    show.set_defaults(handler=_show_dataset)

    train = commands.add_parser("train", help="train a pipeline YAML with Keras fit")
    train.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/ragan_synthetic_quickstart.yaml")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set training.batch_size=16 (repeatable)",
    )
    train.set_defaults(handler=_train)

    export = commands.add_parser("export", help="export a run's EMA generator as a SavedModel")
    export.add_argument("run_dir", help="a finished training run folder, e.g. checkpoints/ragan_synthetic_quickstart")
    export.add_argument("--out", required=True, help="SavedModel folder to create")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    export.add_argument("--tflite", action="store_true", help="also write model.tflite and check it against the SavedModel")
    export.set_defaults(handler=_export)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"ragan-tf {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
