"""The `ragan-tf` command: a thin layer over functions the tests call directly.

Subcommands:
    show-dataset   picture of a dataset: identities x age groups, plus face masks
    prepare        a downloaded dataset -> aligned faces in sharded TFRecords, with a report
    train          train a pipeline YAML with Keras fit (resumes after interruption)
    export         a run's EMA generator -> SavedModel (+ model card, optional TFLite)
    age            age the faces in photos with an exported model (whole photo back, strip, GIF)
    evaluate       age accuracy, identity, background and image quality of a run or export

TensorFlow's start-up log lines and known harmless warnings are hidden unless --verbose is given
(ragan_tf/quiet.py), so this module imports nothing that imports TensorFlow before `main` runs.
"""

import argparse
import os
import sys

from ragan_tf import quiet
from ragan_tf.errors import RaganError, install_command
from ragan_tf.precision import PRECISIONS

VERBOSE_HELP = "show TensorFlow's own log lines and warnings (hidden by default)"
MODEL_SOURCE_HELP = (
    "Besides a folder, --model takes a .zip, .tar.gz, .tgz or .tar archive holding one (as its single top-level "
    "folder or at its root, as `ragan-tf export --archive` writes it), or an http://, https:// or file:// URL of "
    "such an archive: a URL is downloaded only because you named it, with a progress line; archives are unpacked "
    "once into the cache (~/.cache/ragan_tf/models, or $RAGAN_TF_CACHE) and reused from there, without the "
    "network, on the next run. --sha256 checks the archive before it is used."
)
PRECISION_HELP = ("the generator's arithmetic: float32 (default), or bfloat16 on CPUs with it in hardware "
                  "(AMX / AVX-512 BF16; about 3x faster at paper size, outputs a few uint8 levels apart)")
SHA256_HELP = "the archive's expected SHA-256 (64 hex digits, as in the .sha256 file `export --archive` writes)"


def _show_dataset(args):
    from ragan_tf.config import ConfigError
    from ragan_tf.data.preview import prepared_preview, synthetic_preview
    from ragan_tf.visualization import save_png

    if args.dataset == "synthetic":
        from ragan_tf.data.synthetic_faces import MAX_SIZE, MIN_SIZE

        if not MIN_SIZE <= args.size <= MAX_SIZE:
            raise ConfigError(f"--size must be {MIN_SIZE} to {MAX_SIZE} px for the synthetic faces, got {args.size}.")
        if args.identities < 1:
            raise ConfigError(f"--identities must be at least 1, got {args.identities}.")
        picture = synthetic_preview(args.size, args.identities, args.age_groups, args.seed)
    elif os.path.isdir(args.dataset):
        from ragan_tf.data.prepare import read_plan

        read_plan(args.dataset)  # a clear error for a folder that is not a prepared dataset
        picture = prepared_preview(args.dataset, args.age_groups, per_group=args.identities, split=args.split)
    else:
        raise ConfigError(
            f"show-dataset takes 'synthetic' or a folder written by `ragan-tf prepare`; got {args.dataset!r}."
        )
    print(f"Wrote {save_png(picture, args.out)} ({picture.shape[1]}x{picture.shape[0]} px).")


def _prepare(args):
    from ragan_tf.data.prepare import prepare

    prepare(
        args.dataset, args.manual_dir, args.out, image_size=args.size, options=args.options,
        alignment=args.alignment, mask=args.mask, non_face_labels=args.non_face_labels,
        image_format=args.image_format, shard_size=args.shard_size, workers=args.workers,
        detector=args.detector, multiple_faces=args.multiple_faces, no_face=args.no_face,
        overwrite=args.overwrite, limit=args.limit,
    )


def _train(args):
    from ragan_tf.config import load_config
    from ragan_tf.training.train import train

    if args.local_workers:
        from ragan_tf.training.local_cluster import run_local_workers

        return run_local_workers(args.pipeline, args.overrides, args.local_workers, verbose=args.verbose)
    config = load_config(args.pipeline, args.overrides)
    with quiet.first_batches_hidden(quiet.REMAPPER_FAILED) as callbacks:  # grappler's, at a tf.function's first run
        train(config, extra_callbacks=callbacks)


def _export(args):
    from ragan_tf.export import export_saved_model

    export_saved_model(args.run_dir, args.out, overwrite=args.overwrite, tflite=args.tflite, archive=args.archive,
                       onnx=args.onnx)


def _age(args):
    from ragan_tf.inference.age_command import age_photos

    return age_photos(
        args.photos, args.model, args.ages, args.out, detector=args.detector, gif_frames=args.gif_frames,
        strip=not args.no_strip, crops=args.save_crops, max_pixels=args.max_pixels, overwrite=args.overwrite,
        source_age=args.source_age, gender=None if args.gender is None else ("male", "female").index(args.gender),
        sha256=args.sha256, runtime=args.runtime, precision=args.precision,
    )


def _evaluate(args):
    from ragan_tf.config import ConfigError

    if args.estimator_identities < 2:
        raise ConfigError(f"--estimator-identities must be at least 2 (the identity embedder learns to tell them "
                          f"apart), got {args.estimator_identities}.")
    if args.estimator_epochs < 1:
        raise ConfigError(f"--estimator-epochs must be at least 1, got {args.estimator_epochs}.")
    from ragan_tf.evaluation.evaluate import evaluate

    inception = None
    if args.fid_weights or args.allow_download:
        from ragan_tf.evaluation.inception import InceptionFeatures

        inception = InceptionFeatures(weights=args.fid_weights or "imagenet", allow_download=args.allow_download)
    evaluate(args.model, args.out, data=args.data, count=args.count, baselines=args.baselines,
             estimator_identities=args.estimator_identities, estimator_epochs=args.estimator_epochs,
             inception=inception, detector=args.detector, photo_side=args.photo_side, sha256=args.sha256,
             precision=args.precision)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ragan-tf", description="Re-Aging GAN and face-aging baselines in TensorFlow / Keras 3."
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    show = commands.add_parser("show-dataset", help="write a picture of a dataset (identities x age groups)")
    show.add_argument("dataset", help="'synthetic', or a folder written by `ragan-tf prepare`")
    show.add_argument("--out", required=True, help="output PNG path")
    show.add_argument("--size", type=int, default=64, help="synthetic: image size in pixels (32-256)")
    show.add_argument("--identities", type=int, default=6,
                      help="rows: identities (synthetic) or faces per age group (prepared)")
    show.add_argument("--age-groups", default="ffhq_aging", help="age-group scheme")
    show.add_argument("--seed", type=int, default=0, help="synthetic: dataset seed")
    show.add_argument("--split", default="train", help="prepared: which split")
    show.set_defaults(handler=_show_dataset)

    from ragan_tf.data.datasets import MODULES
    from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS
    from ragan_tf.data.face_records import IMAGE_FORMATS

    prepare = commands.add_parser(
        "prepare", help="read a downloaded dataset, align the faces, write sharded TFRecords and a report",
        description="Reads a dataset from the folder you downloaded it to (see README: Datasets), detects "
        "and aligns the faces where the images are not aligned crops already, makes face masks and writes "
        "sharded TFRecords readable by the training pipeline and by tfds.builder_from_directory, plus "
        "report.md, preview.png and age_groups.png. Running it again continues an interrupted run.",
    )
    prepare.add_argument("dataset", choices=list(MODULES), help="which dataset the raw folder holds")
    prepare.add_argument("--manual-dir", required=True, help="the folder you downloaded the dataset into")
    prepare.add_argument("--out", required=True, help="output folder (set data.data_dir of a pipeline to it)")
    prepare.add_argument("--size", type=int, default=256, help="side of the prepared faces in pixels")
    prepare.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                         help="a reader option, e.g. --option subset=wiki (repeatable; see README)")
    prepare.add_argument("--alignment", choices=["none", "ffhq_aging", "ffhq", "utkface"],
                         help="face crop: none = images are aligned crops already (default: the dataset's)")
    prepare.add_argument("--mask", choices=["parsing", "landmarks", "none"],
                         help="face mask source (default: the dataset's)")
    prepare.add_argument("--non-face-labels", type=int, nargs="+", default=list(DEFAULT_NON_FACE_LABELS),
                         help="parsing classes outside the face mask (datasets with parsing maps)")
    prepare.add_argument("--image-format", choices=IMAGE_FORMATS, default="raw",
                         help="raw: fastest to read, largest; png / jpeg: smaller, slower to decode")
    prepare.add_argument("--shard-size", type=int, default=1000, help="images per TFRecord shard")
    prepare.add_argument("--workers", type=int, help="processes (default: all CPU cores)")
    prepare.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto", help="dlib face detector")
    prepare.add_argument("--multiple-faces", choices=["skip", "largest"], default="skip",
                         help="photos with several faces (and no labelled face box): skip them or take the largest")
    prepare.add_argument("--no-face", choices=["keep", "skip"], default="keep",
                         help="aligned chips where no face is found: keep them with an all-ones mask, or skip them "
                              "(report.md names them either way)")
    prepare.add_argument("--overwrite", action="store_true", help="start again, deleting a previous --out")
    prepare.add_argument("--limit", type=int, help="only N images of each split, spread over the ages (a trial run)")
    prepare.set_defaults(handler=_prepare)

    from ragan_tf.models.registry import families_help

    train = commands.add_parser(
        "train", help="train a pipeline YAML with Keras fit", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Trains the model family the pipeline's `model.type` names, with Keras fit under the "
        "pipeline's tf.distribute strategy; rerunning the same command resumes an interrupted run.\n\n"
        f"Model families (model.type):\n{families_help()}\n\nPipelines for each are in pipelines/ "
        "(ragan_synthetic_quickstart.yaml and <family>_synthetic_64.yaml train on the embedded synthetic faces).")
    train.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/ragan_synthetic_quickstart.yaml")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set training.batch_size=16 (repeatable)",
    )
    train.add_argument(
        "--local-workers", type=int, default=0, metavar="N",
        help="run a multi-worker cluster of N processes on this machine (runtime.strategy=multi_worker, TF_CONFIG "
        "on 127.0.0.1 ports set for each); the chief's progress is shown, and all stop if one fails",
    )
    train.set_defaults(handler=_train)

    export = commands.add_parser("export", help="export a run's inference network (any family) as a SavedModel")
    export.add_argument("run_dir", help="a finished training run folder, e.g. checkpoints/ragan_synthetic_quickstart")
    export.add_argument("--out", required=True, help="SavedModel folder to create")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    export.add_argument("--tflite", action="store_true", help="also write model.tflite and model_float16.tflite "
                        "(float16 weights) of the float core and check them against the SavedModel")
    export.add_argument("--onnx", action="store_true", help="also write model.onnx of the float core (tf2onnx) and "
                        "check it against the SavedModel with onnxruntime; needs " + install_command("onnx"))
    export.add_argument("--archive", action="store_true",
                        help="also write OUT.tar.gz (the export as its single top-level folder) and OUT.tar.gz.sha256 "
                             "(sha256sum format), for `age --model` / `evaluate --model` as a file or URL")
    export.set_defaults(handler=_export)

    age = commands.add_parser("age", help="age the faces in photos with an exported model", epilog=MODEL_SOURCE_HELP)
    age.add_argument("photos", nargs="+", help="photo files (JPEG, PNG, ...)")
    age.add_argument("--model", required=True,
                     help="a folder written by `ragan-tf export`, an archive of one, or its URL (see below)")
    age.add_argument("--sha256", metavar="HEX", help=SHA256_HELP)
    age.add_argument("--ages", nargs="+", type=int, default=[5, 20, 40, 70], help="target ages in years")
    age.add_argument("--out", default="aged", help="output folder (default: ./aged); existing files in it are "
                     "never replaced unless --overwrite")
    age.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run in --out")
    age.add_argument("--source-age", type=int, help="models that read the face's own age (the conditional VAE): "
                                                     "that age in years (default: estimated per face)")
    age.add_argument("--gender", choices=["male", "female"],
                     help="models that read the face's gender: that gender (default: estimated per face)")
    age.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto",
                     help="dlib face detector; auto = HOG, then the CNN detector when HOG finds nothing")
    age.add_argument("--gif-frames", type=int, default=16,
                     help="frames of the animated age sweep (0: no GIF)")
    age.add_argument("--no-strip", action="store_true", help="do not write the side-by-side strip")
    age.add_argument("--save-crops", action="store_true", help="also write the aligned and aged face crops")
    age.add_argument("--max-pixels", type=int, default=100_000_000,
                     help="refuse photos with more pixels than this (decompression bombs)")
    age.add_argument("--runtime", choices=["saved_model", "onnx"], default="saved_model",
                     help="run the SavedModel (default) or the export's model.onnx (`export --onnx`) with onnxruntime")
    age.add_argument("--precision", choices=PRECISIONS, default="float32", help=PRECISION_HELP)
    age.set_defaults(handler=_age)

    evaluate = commands.add_parser("evaluate", help="measure a run or an export on the test split",
                                   epilog=MODEL_SOURCE_HELP)
    evaluate.add_argument("--model", required=True, help="a run folder (ragan-tf train) or an export (ragan-tf "
                          "export), an archive of one, or its URL (see below)")
    evaluate.add_argument("--sha256", metavar="HEX", help=SHA256_HELP)
    evaluate.add_argument("--precision", choices=PRECISIONS, default="float32",
                          help=PRECISION_HELP + "; the judges run in float32")
    evaluate.add_argument("--out", required=True, help="output folder for tables and plots")
    evaluate.add_argument("--data", help="pipeline YAML naming the test data (default: the model's own)")
    evaluate.add_argument("--count", type=int, default=100,
                          help="test images, each aged to every group (samplers: samples per group)")
    evaluate.add_argument("--baselines", nargs="*", default=["identity", "untrained"],
                          help="also evaluate: identity (output = input; age transformers), untrained "
                               "(a fresh network of the same family)")
    evaluate.add_argument("--estimator-identities", type=int, default=300,
                          help="training identities for the synthetic age estimator and identity embedder "
                               "(at least 2)")
    evaluate.add_argument("--estimator-epochs", type=int, default=8)
    evaluate.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto",
                          help="real faces: dlib face detector of the photo age model and the identity descriptor")
    evaluate.add_argument("--photo-side", type=int, default=128,
                          help="real faces: smaller images are enlarged to this side (px) for the photo judges")
    evaluate.add_argument("--fid-weights", help="local InceptionV3 (no top) weights file for FID/KID")
    evaluate.add_argument("--allow-download", action="store_true",
                          help="let Keras download the InceptionV3 ImageNet weights for FID/KID (~84 MB)")
    evaluate.set_defaults(handler=_evaluate)
    for command in commands.choices.values():  # --verbose also after the command name
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def wants_verbose(argv):
    """Whether `argv` asks for --verbose (read before the parser, which imports TensorFlow)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return any(len(token) >= 3 and "--verbose".startswith(token) for token in options)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_verbose(argv):
        quiet.leave_tensorflow_alone()
    else:
        quiet.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except RaganError as error:  # known failure modes; anything else is a bug and keeps its traceback
        print(f"ragan-tf {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the environment's: a full disk, a read-only folder, a missing file
        print(f"ragan-tf {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    return code or 0


def describe_os_error(error):
    """One line for a file-system error: what happened, to which file."""
    reason = error.strerror or str(error)
    names = [name for name in (error.filename, error.filename2) if name]
    return f"{reason}: {' -> '.join(map(str, names))}" if names else reason


if __name__ == "__main__":
    sys.exit(main())
