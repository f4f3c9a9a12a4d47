"""A quiet `ragan-tf` command: TensorFlow's harmless log lines and warnings off.

`import tensorflow` prints a screen of log lines that a newcomer reads as a failure. Measured on
TF 2.21 (x86-64 CPU machine, no GPU), per setting:

    line                                                    hidden by
    WARNING: All log messages before absl::InitializeLog()  nothing: printed while TF's libraries load,
    I ... port.cc oneDNN custom operations are on           before TF_CPP_MIN_LOG_LEVEL applies
    I ... cudart_stub.cc Could not find cuda drivers        (each printed twice in TF 2.21)
    I ... cpu_feature_guard.cc This TensorFlow binary ...   TF_CPP_MIN_LOG_LEVEL >= 1
    W ... cache_dataset_ops.cc The calling iterator did     TF_CPP_MIN_LOG_LEVEL >= 2
          not fully read the dataset being cached
    E ... cuda_platform.cc failed call to cuInit            TF_CPP_MIN_LOG_LEVEL = 3 only (all C++ errors);
                                                            CUDA_VISIBLE_DEVICES=-1 does not hide it

and later, during the work itself (each in-process, printed long after TF's logging started):

    line                                                    when; why harmless; hidden by
    E ... meta_optimizer.cc remapper failed:                a tf.function's first run in `train` (the train
          INVALID_ARGUMENT: Mutation::Apply error: fanout   step of cvae and age_cgan, the validation step of
          'X' exist for missing node 'Y'.                   ragan). Grappler's meta-optimizer logs it, LOG(ERROR),
                                                            when one pass fails, puts back the graph from before
                                                            that pass and goes on: the remapper (a TF bug) fuses
                                                            away a BiasAdd that an AvgPool or a LeakyReluGrad
                                                            still reads (Conv2D+BiasAdd+LeakyRelu reproduces it).
                                                            Same results, without that pass's fusions.
                                                            TF_CPP_MIN_LOG_LEVEL = 3 only (or oneDNN off,
                                                            TF_ENABLE_ONEDNN_OPTS=0: no such fusion on the CPU).
    E ... node_def_util.cc NodeDef mentions attribute       each TFLite conversion (`export --tflite`), in the
          Truncate which is not in the op definition:       converter's threads (no subprocess). The NodeDef
          Op<name=Identity; ...> ... Unknown attributes     check logs it, LOG_EVERY_N_SEC(ERROR, 5), skips the
          will be ignored. NodeDef: {{node unnamed}}        attribute and goes on. Comes from a no-op int32->int32
                                                            Cast of a constant (tf.repeat's, in UpSampling2D),
                                                            which the converter turns into an Identity.
                                                            TF_CPP_MIN_LOG_LEVEL = 3 only.
    INFO: Created TensorFlow Lite XNNPACK delegate for CPU. the first TFLite invocation (the `--tflite` check):
                                                            TFLite's own logger; no TF_CPP_MIN_LOG_LEVEL hides it

So `quiet_tensorflow()`:
  * sets TF_CPP_MIN_LOG_LEVEL=2 (C++ INFO and WARNING off, errors kept) unless the user set it;
  * imports TensorFlow and lists its GPUs (which calls cuInit; ~0 s) with file descriptor 2 sent to
    a temporary file, then writes back every captured line except those TF would itself have
    filtered at that level had its logging been initialised (the absl header, INFO lines), and
    except the "no CUDA driver" / "cuInit failed" lines when the machine has no NVIDIA GPU device
    (no /dev/nvidia<N>, /proc/driver/nvidia/gpus/*, or WSL's /dev/dxg) or the user hid the GPUs
    with CUDA_VISIBLE_DEVICES. On a machine with a GPU those lines are kept: they are the only
    explanation when TensorFlow cannot use it. CUDA_VISIBLE_DEVICES is never set.
  * ignores known harmless Python warnings and tensorflow-datasets' "Using custom data
    configuration" log record, by message (`install_warning_filters`).

The later lines are C++ errors: TF_CPP_MIN_LOG_LEVEL=3 would hide every real error with them. So
each is hidden only around the operation that prints it, by its exact text, and only while
ragan-tf chose the log level itself (`hides_known_lines`): `known_lines_hidden` sends file
descriptor 2 to a temporary file around one call (each TFLite conversion and check, in
ragan_tf/export/tflite.py) and writes back every other line; `first_batches_hidden` does the same
for `train`, as Keras callbacks, around the first training and the first validation batch of each
epoch (where Keras runs its tf.functions for the first time, and grappler optimises them). Output
in such a window shows at its end; if the operation raises, everything captured is shown (if the
process is killed inside one, what it captured is lost, as at start-up).

`--verbose` skips all of this: TensorFlow logs as it always does. A user's own TF_CPP_MIN_LOG_LEVEL
is respected (0 shows everything, as it would without ragan-tf) and turns the later filters off
too (2 shows the lines above, as it would without ragan-tf). This module imports no TensorFlow at
module level, so it can run before anything else does.
"""

import contextlib
import glob
import logging
import os
import re
import sys
import tempfile
import warnings

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET_VARIABLE = "RAGAN_TF_QUIET"  # set by quiet_tensorflow: child processes quiet themselves too
# set by quiet_tensorflow to the TF_CPP_MIN_LOG_LEVEL it chose; absent when the user chose one
CHOSEN_LEVEL_VARIABLE = "RAGAN_TF_CHOSEN_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "2"  # C++ INFO and WARNING off; ERROR and FATAL shown

# Known harmless Python warnings, by the start of their message (re.match, as `warnings` does).
HARMLESS_WARNINGS = (
    # Keras: fit(shuffle=True) with a tf.data.Dataset; our pipelines shuffle in tf.data.
    (UserWarning, r"`shuffle=True` was passed, but will be ignored since the data `x` was provided "
                  r"as a tf\.data\.Dataset"),
    # TF 2.20+: the TFLite check falls back to tf.lite.Interpreter when ai_edge_litert is absent.
    (UserWarning, r"\s*Warning: tf\.lite\.Interpreter is deprecated"),
)

# Known harmless Python log records (absl logging, as tensorflow-datasets writes them), by message start.
HARMLESS_LOG_RECORDS = {
    # tfds: a builder made with a config object not in its BUILDER_CONFIGS (the synthetic faces are).
    "absl": (r"Using custom data configuration: ",
             # tfds 4.9 itself reads its deprecated FeatureConnector.dtype while writing a dataset's
             # metadata (`ragan-tf prepare`); nothing in our code or the user's can change it.
             r"`(FeatureConnector|TensorInfo)\.dtype` is deprecated\. Please change your code to use NumPy"),
}

ABSL_PREINIT_HEADER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# glog/absl prefix: severity, MMDD, time, thread id, file:line]
_LOG_LINE = re.compile(r"^(?P<severity>[IWEF])\d{4} [\d:.]+\s+\d+ (?P<source>[^:\]\s]+):\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# Lines that only say there is no usable CUDA driver / device.
_NO_GPU_LINES = re.compile(r"Could not find cuda drivers on your machine|failed call to cuInit")


def _error_line(source, message):
    """A pattern for a whole C++ ERROR log line from `source` (file name) whose message matches `message`."""
    return rf"E\d{{4}} [\d:.]+\s+\d+ {re.escape(source)}:\d+\] (?:{message})"


# Known harmless lines printed long after start-up (see the module docstring), each a pattern for
# the whole line; hidden only around the operation that prints them.
REMAPPER_FAILED = _error_line(
    "meta_optimizer.cc",
    r"remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout '[^']+' exist for missing node '[^']+'\.",
)
IDENTITY_TRUNCATE_IGNORED = _error_line(
    "node_def_util.cc",
    r"NodeDef mentions attribute Truncate which is not in the op definition: Op<name=Identity; .*"
    r"Unknown attributes will be ignored\. NodeDef: \{\{node [^}]*\}\}",
)
XNNPACK_DELEGATE_CREATED = r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."


class _HarmlessRecords(logging.Filter):
    def __init__(self, patterns):
        super().__init__()
        self.pattern = re.compile("|".join(f"(?:{pattern})" for pattern in patterns))

    def filter(self, record):
        return not self.pattern.match(str(record.msg))


def install_warning_filters():
    """Ignores the known harmless Python warnings and log records (targeted by message, nothing else)."""
    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, patterns in HARMLESS_LOG_RECORDS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _HarmlessRecords) for existing in logger.filters):
            logger.addFilter(_HarmlessRecords(patterns))


def gpu_hardware_present():
    """Whether this machine shows an NVIDIA GPU to processes (without loading CUDA or TensorFlow)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False  # the user hid the GPUs; TF's complaint about it is expected
    return bool(
        glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*") or os.path.exists("/dev/dxg")
    )


def filter_log_text(text, level, gpu_present):
    """The lines of captured start-up output worth showing at TF_CPP_MIN_LOG_LEVEL `level`.

    Drops the absl pre-initialisation header, log lines below `level` (what TF's own filter
    would drop) and the no-CUDA lines when `gpu_present` is false. Every line not in the log
    format (other programs' output, Python warnings) is kept.
    """
    if level <= 0:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if bare == ABSL_PREINIT_HEADER:
            continue
        match = _LOG_LINE.match(bare)
        if match:
            if _NO_GPU_LINES.search(bare):
                if not gpu_present:
                    continue
            elif _SEVERITY[match["severity"]] < level:
                continue
        kept.append(line)
    return "".join(kept)


def drop_lines(text, patterns):
    """`text` without the lines that one of `patterns` (regular expressions) matches as a whole."""
    pattern = re.compile("|".join(f"(?:{pattern})" for pattern in patterns))
    return "".join(line for line in text.splitlines(keepends=True) if not pattern.fullmatch(line.rstrip("\r\n")))


@contextlib.contextmanager
def _stderr_captured(keep):
    """Sends file descriptor 2 to a temporary file; writes back `keep(captured text)`."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    capture = tempfile.TemporaryFile(mode="w+b")
    failed = True
    try:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        yield
        failed = False
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", errors="replace")
        capture.close()
        # after a failure everything is shown: it may explain the failure
        shown = text if failed else keep(text)
        if shown:
            sys.stderr.write(shown)
            sys.stderr.flush()


def hides_known_lines():
    """Whether the known harmless later lines are hidden in this process: it ran `quiet_tensorflow`
    (no --verbose) and the log level is still the one it chose (not the user's own)."""
    chosen = os.environ.get(CHOSEN_LEVEL_VARIABLE)
    return os.environ.get(QUIET_VARIABLE) == "1" and chosen is not None and os.environ.get(LOG_LEVEL_VARIABLE) == chosen


@contextlib.contextmanager
def known_lines_hidden(*patterns):
    """Around one operation: the lines `patterns` match (as a whole) are not shown, all others are,
    when the operation ends; nothing is captured unless `hides_known_lines()`."""
    if not hides_known_lines():
        yield
        return
    with _stderr_captured(lambda text: drop_lines(text, patterns)):
        yield


@contextlib.contextmanager
def first_batches_hidden(*patterns):
    """Keras callbacks for `fit`: `known_lines_hidden(*patterns)` around the first training and the
    first validation batch of each epoch. Yields the list to pass as callbacks (empty when
    `hides_known_lines()` is false); a window still open when the block raises is closed, showing
    everything it captured."""
    if not hides_known_lines():
        yield []
        return
    import keras

    class FirstBatchesHidden(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.window = None

        def open(self, batch):
            if batch == 0 and self.window is None:
                self.window = contextlib.ExitStack()
                self.window.enter_context(known_lines_hidden(*patterns))

        def close(self, *exc_info):
            window, self.window = self.window, None
            if window is not None:
                window.__exit__(*(exc_info or (None, None, None)))

        def on_train_batch_begin(self, batch, logs=None):
            self.open(batch)

        def on_test_batch_begin(self, batch, logs=None):
            self.open(batch)

        def on_train_batch_end(self, batch, logs=None):
            self.close()

        def on_test_batch_end(self, batch, logs=None):
            self.close()

    callback = FirstBatchesHidden()
    try:
        yield [callback]
    except BaseException:
        callback.close(*sys.exc_info())
        raise
    callback.close()


def quiet_tensorflow():
    """Sets the log level, then imports TensorFlow quietly (see the module docstring).

    Call before anything imports TensorFlow; once it is imported, only the warning filters apply.
    """
    if LOG_LEVEL_VARIABLE not in os.environ:
        os.environ[LOG_LEVEL_VARIABLE] = os.environ[CHOSEN_LEVEL_VARIABLE] = DEFAULT_LOG_LEVEL
    os.environ[QUIET_VARIABLE] = "1"
    install_warning_filters()
    if "tensorflow" in sys.modules:
        return
    try:
        level = int(os.environ[LOG_LEVEL_VARIABLE])
    except ValueError:
        level = 0  # not a number: leave TensorFlow's output alone
    if level <= 0:
        return
    with _stderr_captured(lambda text: filter_log_text(text, level, gpu_hardware_present())):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # cuInit happens here, inside the capture


def leave_tensorflow_alone():
    """For --verbose: no filtering in this process or its children, even where a parent `ragan-tf`
    quieted itself (its environment is inherited): its settings are removed, the user's kept."""
    chosen = os.environ.pop(CHOSEN_LEVEL_VARIABLE, None)
    if chosen is not None and os.environ.get(LOG_LEVEL_VARIABLE) == chosen:
        del os.environ[LOG_LEVEL_VARIABLE]
    os.environ.pop(QUIET_VARIABLE, None)


def quiet_worker():
    """A process-pool initializer: quiet like the parent command (nothing when it ran --verbose).

    Spawned workers import TensorFlow afresh; `multiprocessing.get_context("spawn").Pool(n,
    initializer=quiet_worker)` keeps their start-up lines off the screen as well.
    """
    if os.environ.get(QUIET_VARIABLE) == "1":
        quiet_tensorflow()
