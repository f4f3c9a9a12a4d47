"""`ragan-tf` starts quietly: no TensorFlow/absl log lines unless --verbose (ragan_tf/quiet.py).

The command tests run `python -m ragan_tf` in a subprocess with the environment a user's shell
would have: no TF_CPP_MIN_LOG_LEVEL, no CUDA_VISIBLE_DEVICES. They pass with or without a GPU:
on a machine that has an NVIDIA GPU device, the no-CUDA lines are kept by design (they are the
only explanation when TensorFlow cannot use it), so they are not asserted absent there.
"""

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ragan_tf import quiet
from ragan_tf.cli import wants_verbose

REPO = Path(__file__).resolve().parents[1]

# TF 2.21 on a CPU machine prints all of these at import / first device use without ragan-tf's care.
TF_LOG_PATTERNS = [
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"cpu_feature_guard\.cc",
    r"The calling iterator did not fully read the dataset being cached",
    r"^[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ",  # any TF/absl INFO or WARNING log line
]
NO_GPU_PATTERNS = [
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
]
USER_VARIABLES = ["TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL", "TF_CPP_VMODULE", "CUDA_VISIBLE_DEVICES",
                  "TF_ENABLE_ONEDNN_OPTS", "PYTHONWARNINGS", quiet.QUIET_VARIABLE, quiet.CHOSEN_LEVEL_VARIABLE]


def _clean_env():
    env = {key: value for key, value in os.environ.items() if key not in USER_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(args, tmp_path):
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=_clean_env(), capture_output=True,
                            text=True, timeout=600)
    return result, result.stdout + result.stderr


def _assert_quiet(output):
    patterns = TF_LOG_PATTERNS + ([] if quiet.gpu_hardware_present() else NO_GPU_PATTERNS)
    found = [pattern for pattern in patterns if re.search(pattern, output, re.MULTILINE)]
    assert not found, f"TensorFlow start-up lines in the output ({found}):\n{output}"


def test_help_prints_no_tensorflow_log_lines(tmp_path):
    result, output = _run(["-m", "ragan_tf", "--help"], tmp_path)
    assert result.returncode == 0, output
    assert "usage: ragan-tf" in result.stdout and "--verbose" in result.stdout
    _assert_quiet(output)
    assert result.stderr == ""


def test_show_dataset_prints_only_its_own_line(tmp_path):
    out = tmp_path / "x.png"
    args = ["-m", "ragan_tf", "show-dataset", "synthetic", "--size", "32", "--identities", "2", "--out", str(out)]
    result, output = _run(args, tmp_path)
    assert result.returncode == 0, output
    assert out.is_file()
    _assert_quiet(output)
    assert result.stdout.strip().startswith("Wrote ")


def test_the_tf_data_cache_warning_is_hidden(tmp_path):
    # a C++ WARNING (cache_dataset_ops.cc) from a worker thread: hidden by TF_CPP_MIN_LOG_LEVEL=2
    script = ("from ragan_tf import quiet; quiet.quiet_tensorflow()\n"
              "import tensorflow as tf\n"
              "for _ in tf.data.Dataset.range(10).cache().take(2): pass\n"
              "print('done')\n")
    result, output = _run(["-c", script], tmp_path)
    assert result.returncode == 0, output
    assert result.stdout.strip() == "done"
    _assert_quiet(output)


def test_verbose_leaves_tensorflow_logging_alone(tmp_path):
    out = tmp_path / "x.png"
    script = ("import json, os, sys\n"
              "from ragan_tf.cli import main\n"
              f"code = main(['show-dataset', 'synthetic', '--size', '32', '--identities', '2', '--out', {str(out)!r},"
              " '--verbose'])\n"
              "print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))\n"
              "sys.exit(code)\n")
    result, output = _run(["-c", script, "TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", quiet.QUIET_VARIABLE],
                          tmp_path)
    assert result.returncode == 0, output
    assert out.is_file()
    environment = json.loads(result.stdout.strip().splitlines()[-1])
    assert environment == {"TF_CPP_MIN_LOG_LEVEL": None, "CUDA_VISIBLE_DEVICES": None, quiet.QUIET_VARIABLE: None}


@pytest.mark.parametrize(
    "argv, verbose",
    [
        (["--verbose", "train", "x.yaml"], True),
        (["train", "x.yaml", "--verbose"], True),
        (["train", "x.yaml", "--verb"], True),  # argparse accepts unique prefixes
        (["train", "x.yaml"], False),
        (["train", "--", "--verbose"], False),
        (["train", "--set", "training.verbose=1"], False),
    ],
)
def test_verbose_is_read_before_the_parser(argv, verbose):
    assert wants_verbose(argv) is verbose


def test_the_parser_accepts_verbose_before_and_after_the_command():
    from ragan_tf.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--verbose", "export", "run", "--out", "x"]).verbose is True
    assert parser.parse_args(["export", "run", "--out", "x", "--verbose"]).verbose is True
    assert parser.parse_args(["export", "run", "--out", "x"]).verbose is False


def test_a_users_own_log_level_is_kept(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.delenv(quiet.QUIET_VARIABLE, raising=False)
    with warnings.catch_warnings():
        quiet.quiet_tensorflow()  # TensorFlow is imported in this process already: only the filters apply
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


# What TF 2.21 wrote to stderr on a CPU machine during `import tensorflow` and the first device listing.
CAPTURED = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796165570.235927   18360 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796165570.236410   18360 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
/somewhere/module.py:12: UserWarning: a warning we did not expect
  warnings.warn("a warning we did not expect")
E0000 00:00:1796165574.425942   18360 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
E0000 00:00:1796165574.425942   18360 some_op.cc:10] a real error
W1102 10:11:12.123456   18360 other.cc:7] a real warning
"""


def test_the_filter_drops_only_known_start_up_lines():
    kept = quiet.filter_log_text(CAPTURED, level=2, gpu_present=False).splitlines()
    assert kept == [
        "/somewhere/module.py:12: UserWarning: a warning we did not expect",
        '  warnings.warn("a warning we did not expect")',
        "E0000 00:00:1796165574.425942   18360 some_op.cc:10] a real error",
    ]


def test_the_filter_keeps_cuda_lines_on_a_machine_with_a_gpu():
    kept = quiet.filter_log_text(CAPTURED, level=2, gpu_present=True)
    assert "Could not find cuda drivers" in kept and "failed call to cuInit" in kept
    assert "oneDNN" not in kept and "absl::InitializeLog" not in kept


def test_the_filter_follows_the_log_level():
    assert quiet.filter_log_text(CAPTURED, level=0, gpu_present=False) == CAPTURED
    at_one = quiet.filter_log_text(CAPTURED, level=1, gpu_present=False)
    assert "a real warning" in at_one and "oneDNN" not in at_one
    at_three = quiet.filter_log_text(CAPTURED, level=3, gpu_present=False)
    assert "a real error" not in at_three and "UserWarning" in at_three


def test_hidden_gpus_count_as_no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert quiet.gpu_hardware_present() is False


DELETION_WARNING = """\
    Warning: tf.lite.Interpreter is deprecated and is scheduled for deletion in
    TF 2.20. Please use the LiteRT interpreter from the ai_edge_litert package."""


def test_the_known_harmless_warnings_are_ignored_and_no_others():
    import tensorflow as tf
    from keras.src.trainers.data_adapters import get_data_adapter
    from tensorflow.lite.python import interpreter

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.install_warning_filters()
        get_data_adapter(tf.data.Dataset.range(3).batch(1), shuffle=True)  # Keras's own shuffle warning
        # the text tf.lite.Interpreter() warns with (TF 2.20+)
        warnings.warn(getattr(interpreter, "_INTERPRETER_DELETION_WARNING", DELETION_WARNING))
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as a "
                      "generator.")  # a different case: still shown
        warnings.warn("an unrelated warning")
    assert [str(w.message)[:26] for w in caught] == ["`shuffle=True` was passed,", "an unrelated warning"]


def test_tfds_custom_config_record_is_dropped_and_no_other(caplog):
    from absl import logging as absl_logging

    quiet.install_warning_filters()
    quiet.install_warning_filters()  # idempotent: one filter on the logger
    logger = logging.getLogger("absl")
    assert sum(isinstance(f, quiet._HarmlessRecords) for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger="absl"):
        absl_logging.warning("Using custom data configuration: %s", "SyntheticFacesBuilderConfig(name='x')")
        absl_logging.warning("Using a real configuration problem: %s", "y")
        absl_logging.warning("`FeatureConnector.dtype` is deprecated. Please change your code to use NumPy with "
                             "the field `FeatureConnector.np_dtype` or use TensorFlow with the field "
                             "`FeatureConnector.tf_dtype`.")
        absl_logging.warning("`Mystery.dtype` is deprecated.")
    assert [record.getMessage() for record in caplog.records] == ["Using a real configuration problem: y",
                                                                 "`Mystery.dtype` is deprecated."]


# ----------------------------------------------------------------------------
# Lines printed long after start-up, hidden only around the operation that prints them.

# What TF 2.21 printed (CPU machine): `ragan-tf train` of ragan_synthetic_tiny.yaml, then `export --tflite`.
REMAPPER_LINE = (
    "E0000 00:00:1796190954.899709    4352 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply "
    "error: fanout 'StatefulPartitionedCall/discriminator_3/down_block_0_1/downsample_1/AvgPool' exist for missing "
    "node 'StatefulPartitionedCall/discriminator_3/stem_1/BiasAdd'."
)
TRUNCATE_LINE = (
    "E0000 00:00:1796191002.002296    4753 node_def_util.cc:682] NodeDef mentions attribute Truncate which is not in "
    "the op definition: Op<name=Identity; signature=input:T -> output:T; attr=T:type> This may be expected if your "
    "graph generating binary is newer  than this binary. Unknown attributes will be ignored. NodeDef: {{node unnamed}}"
)
XNNPACK_LINE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
KNOWN_LINES = {quiet.REMAPPER_FAILED: REMAPPER_LINE, quiet.IDENTITY_TRUNCATE_IGNORED: TRUNCATE_LINE,
               quiet.XNNPACK_DELEGATE_CREATED: XNNPACK_LINE}


def _found(pattern, text):
    return any(re.fullmatch(pattern, line) for line in text.splitlines())


def test_the_known_later_lines_are_dropped_and_no_others():
    others = [
        "E0000 00:00:1796190954.899709    4352 meta_optimizer.cc:967] remapper failed: INTERNAL: something else",
        "E0000 00:00:1796190954.899709    4352 meta_optimizer.cc:967] constant_folding failed: INVALID_ARGUMENT: "
        "Mutation::Apply error: fanout 'a' exist for missing node 'b'.",
        TRUNCATE_LINE.replace("Truncate", "Tidx"),
        TRUNCATE_LINE.replace("name=Identity", "name=Cast"),
        "F0000 00:00:1796191002.002296    4753 node_def_util.cc:682] " + TRUNCATE_LINE.split("] ", 1)[1],
        "INFO: Created TensorFlow Lite delegate for select TF ops.",
        "a line that merely quotes it: " + REMAPPER_LINE,
    ]
    text = "\n".join([*KNOWN_LINES.values(), *others]) + "\n"
    assert quiet.drop_lines(text, list(KNOWN_LINES)) == "\n".join(others) + "\n"
    for pattern, line in KNOWN_LINES.items():
        assert quiet.drop_lines(line + "\n", [pattern]) == ""


def _quiet_as_the_command(monkeypatch, user_level=None):
    """This process's environment as `quiet_tensorflow` leaves it (TensorFlow is imported already)."""
    monkeypatch.delenv(quiet.CHOSEN_LEVEL_VARIABLE, raising=False)
    monkeypatch.delenv(quiet.QUIET_VARIABLE, raising=False)
    if user_level is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", user_level)
    with warnings.catch_warnings():
        quiet.quiet_tensorflow()


def test_a_window_drops_the_known_lines_and_shows_the_rest_at_its_end(monkeypatch, capfd):
    _quiet_as_the_command(monkeypatch)
    assert quiet.hides_known_lines()
    with quiet.first_batches_hidden(quiet.REMAPPER_FAILED) as callbacks:
        (callback,) = callbacks
        callback.on_train_batch_begin(0)
        os.write(2, f"{REMAPPER_LINE}\na real error\n".encode())
        assert capfd.readouterr().err == ""  # held until the batch ends
        callback.on_train_batch_end(0)
        assert capfd.readouterr().err == "a real error\n"
        callback.on_train_batch_begin(1)  # later batches: not captured
        os.write(2, f"{REMAPPER_LINE}\n".encode())
        callback.on_train_batch_end(1)
        assert capfd.readouterr().err == REMAPPER_LINE + "\n"
        callback.on_test_batch_begin(0)
        os.write(2, f"{REMAPPER_LINE}\n".encode())
        callback.on_test_batch_end(0)
        assert capfd.readouterr().err == ""


def test_a_window_left_by_an_exception_shows_everything(monkeypatch, capfd):
    _quiet_as_the_command(monkeypatch)
    with pytest.raises(RuntimeError, match="first step failed"):
        with quiet.first_batches_hidden(quiet.REMAPPER_FAILED) as callbacks:
            callbacks[0].on_train_batch_begin(0)
            os.write(2, f"{REMAPPER_LINE}\n".encode())
            raise RuntimeError("first step failed")
    assert capfd.readouterr().err == REMAPPER_LINE + "\n"


@pytest.mark.parametrize("how", ["user's level", "verbose"])
def test_nothing_is_hidden_with_the_users_own_level_or_verbose(monkeypatch, capfd, how):
    if how == "verbose":
        _quiet_as_the_command(monkeypatch)  # e.g. inherited from a parent `ragan-tf`
        quiet.leave_tensorflow_alone()
        assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") is None and os.environ.get(quiet.QUIET_VARIABLE) is None
    else:
        _quiet_as_the_command(monkeypatch, user_level="2")
    assert not quiet.hides_known_lines()
    with quiet.first_batches_hidden(quiet.REMAPPER_FAILED) as callbacks:
        assert callbacks == []
    with quiet.known_lines_hidden(quiet.IDENTITY_TRUNCATE_IGNORED):
        os.write(2, f"{TRUNCATE_LINE}\n".encode())
        assert capfd.readouterr().err == TRUNCATE_LINE + "\n"  # not even held back


# `ragan-tf train` and `ragan-tf export --tflite` through `main`, in a fresh process: the training is
# a tiny Keras fit on which grappler's remapper fails as on the real networks (a Conv2D+BiasAdd
# read by a LeakyReLU and an AvgPool), the export only the TFLite conversion and check of the tiny
# export (the real converter and interpreter code).
KNOWN_LINES_SCRIPT = """\
import sys
from ragan_tf import quiet
if "--verbose" not in sys.argv:
    quiet.quiet_tensorflow()  # as main() does, before TensorFlow is imported
import keras
import numpy as np
import ragan_tf.config
import ragan_tf.export
import ragan_tf.training.train
from ragan_tf.cli import main
from ragan_tf.export.tflite import check_tflite, export_tflite


def tiny_fit(config, extra_callbacks=()):
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    outputs = keras.layers.Add()([keras.layers.LeakyReLU(0.2)(features), keras.layers.AveragePooling2D(1)(features)])
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    x, y = np.zeros((2, 8, 8, 3), "float32"), np.zeros((2, 8, 8, 4), "float32")
    model.fit(x, y, batch_size=2, validation_data=(x, y), callbacks=list(extra_callbacks), verbose=0)


def tflite_only(saved_model, out, **options):
    check_tflite(saved_model, export_tflite(saved_model, out))


ragan_tf.config.load_config = lambda pipeline, overrides: None
ragan_tf.training.train.train = tiny_fit
ragan_tf.export.export_saved_model = tflite_only
saved_model, out, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
assert main(["train", "tiny.yaml", *flags]) == 0
assert main(["export", saved_model, "--out", out, "--tflite", *flags]) == 0
print("done")
"""


@pytest.fixture(scope="module")
def known_lines_runs(tiny_export, tmp_path_factory):
    """{"quiet" / "verbose": (return code, stdout, stderr)}, the two processes run side by side."""
    folder = tmp_path_factory.mktemp("known_lines")
    env = _clean_env()
    env["CUDA_VISIBLE_DEVICES"] = "-1"  # the CPU's grappler passes on any machine
    processes = {
        mode: subprocess.Popen([sys.executable, "-c", KNOWN_LINES_SCRIPT, str(tiny_export), str(folder / mode), *flags],
                               cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for mode, flags in (("quiet", []), ("verbose", ["--verbose"]))
    }
    outputs = {mode: process.communicate(timeout=600) for mode, process in processes.items()}
    return {mode: (processes[mode].returncode, *output) for mode, output in outputs.items()}


def test_train_and_tflite_export_hide_the_known_lines(known_lines_runs):
    code, out, err = known_lines_runs["quiet"]
    assert code == 0 and out.strip() == "done", out + err
    shown = [pattern for pattern in KNOWN_LINES if _found(pattern, err)]
    assert not shown, f"known harmless TensorFlow lines shown ({shown}):\n{err}"
    _assert_quiet(out + err)


def test_verbose_train_and_tflite_export_show_them(known_lines_runs):
    code, out, err = known_lines_runs["verbose"]
    assert code == 0 and out.strip() == "done", out + err
    # both still printed by this TensorFlow (else their filters can go); the remapper fuses the LeakyReLU
    # only with oneDNN (on by default on x86); XNNPACK's line depends on the interpreter
    expected = [quiet.IDENTITY_TRUNCATE_IGNORED]
    if "oneDNN custom operations are on" in err:
        expected.append(quiet.REMAPPER_FAILED)
    missing = [pattern for pattern in expected if not _found(pattern, err)]
    assert not missing, f"lines not shown with --verbose ({missing}):\n{err}"
