"""Inference precision: float32, or bfloat16 arithmetic on CPUs that have it in hardware.

`--precision bfloat16` (`ragan-tf age`, `ragan-tf evaluate`, `Ager(precision=...)`)
turns on TensorFlow's oneDNN auto-mixed-precision graph rewrite
(`auto_mixed_precision_onednn_bfloat16`, a grappler pass): convolutions and
matrix products of every graph run from then on (the SavedModel's
signatures, a Keras model's `predict`) take bfloat16 inputs and accumulate
in float32; the weights stay float32 on disk and the outputs are float32.
On a CPU with AMX or AVX-512 BF16 units this made the paper-size generator
about 3x faster (docs/BENCHMARKS.md, issue 18) for outputs a few uint8 levels
from float32 (bfloat16 keeps 8 significant bits: a relative rounding of
2^-9 per product input). Where the CPU lacks those units oneDNN would
emulate bfloat16 and be slower than float32, so it is refused there.

The setting is TensorFlow's, hence process-wide: it applies to every graph
called after it is made and is undone by `set_precision("float32")`.
"""

import os

from ragan_tf.errors import RaganError

PRECISIONS = ("float32", "bfloat16")
# /proc/cpuinfo flags of hardware bfloat16 arithmetic: Intel AMX tiles, AVX-512 BF16 (Intel, AMD Zen 4+).
NATIVE_BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = "/proc/cpuinfo"
REWRITE = "auto_mixed_precision_onednn_bfloat16"


class PrecisionError(RaganError, ValueError):
    """A precision this machine cannot run, or one that does not exist."""


def native_bfloat16_flags(cpuinfo=CPUINFO):
    """The flags of `NATIVE_BFLOAT16_FLAGS` the CPU reports in `cpuinfo` (empty when it reports none
    or the file does not exist, e.g. not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            flags = set()
            for line in handle:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[-1].split())
    except OSError:
        return ()
    return tuple(flag for flag in NATIVE_BFLOAT16_FLAGS if flag in flags)


def check_precision(precision, cpuinfo=CPUINFO):
    """A clear one-line error unless `precision` is one of `PRECISIONS` that this machine runs natively.

    Raises:
        PrecisionError: an unknown precision; bfloat16 on a CPU without `NATIVE_BFLOAT16_FLAGS`,
            or with TensorFlow's oneDNN optimisations switched off (`TF_ENABLE_ONEDNN_OPTS=0`).
    """
    if precision not in PRECISIONS:
        raise PrecisionError(f"--precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    if precision != "bfloat16":
        return
    if not native_bfloat16_flags(cpuinfo):
        raise PrecisionError(
            f"--precision bfloat16 needs a CPU with bfloat16 arithmetic in hardware (AMX or AVX-512 BF16: "
            f"{' or '.join(NATIVE_BFLOAT16_FLAGS)} in {cpuinfo}), and this one reports neither; emulated, it would be "
            "slower than float32. Use --precision float32 (the default)."
        )
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() == "0":
        raise PrecisionError("--precision bfloat16 runs through TensorFlow's oneDNN kernels, which "
                             "TF_ENABLE_ONEDNN_OPTS=0 switches off; unset it, or use --precision float32.")


def set_precision(precision, cpuinfo=CPUINFO):
    """Makes every TensorFlow graph called from now on compute in `precision` (process-wide).

    Returns:
        The grappler options before the change, for `restore_options`.

    Raises:
        PrecisionError: see `check_precision`; nothing is changed then.
    """
    check_precision(precision, cpuinfo)
    import tensorflow as tf

    previous = tf.config.optimizer.get_experimental_options()
    options = {REWRITE: precision == "bfloat16"}
    if precision == "bfloat16":
        options["disable_meta_optimizer"] = False  # the rewrite is a grappler pass
    tf.config.optimizer.set_experimental_options(options)
    return previous


def in_precision(function, precision):
    """`function` with TensorFlow's precision set to `precision` for each of its calls and restored
    after (so that, e.g., `ragan-tf evaluate --precision bfloat16` runs the model in bfloat16 and its
    judges in float32). `function` itself when `precision` is float32.

    Raises:
        PrecisionError: see `check_precision`, when wrapping.
    """
    check_precision(precision)
    if precision == "float32":
        return function
    import functools

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        previous = set_precision(precision)
        try:
            return function(*args, **kwargs)
        finally:
            restore_options(previous)

    return wrapped


def restore_options(previous):
    """Undoes `set_precision`: the options it changes get their values of `previous` (what it returned)."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({key: previous.get(key, False)
                                                  for key in (REWRITE, "disable_meta_optimizer")})
