"""`--precision bfloat16`: refused where the CPU lacks bfloat16 units; where it has them, the exported
signatures and an in-memory network (as `evaluate` calls it) really compute in bfloat16, close to float32."""

import numpy as np
import pytest
import tensorflow as tf

from ragan_tf.precision import (REWRITE, PrecisionError, check_precision, in_precision,
                                          native_bfloat16_flags, set_precision)

FLAGS = "processor\t: {n}\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n\n"
NATIVE = bool(native_bfloat16_flags())
needs_bfloat16 = pytest.mark.skipif(not NATIVE, reason="this CPU has no bfloat16 units (amx_bf16 / avx512_bf16); "
                                                       "the refusal is tested instead")


def effective_options():
    options = tf.config.optimizer.get_experimental_options()
    return {key: options.get(key, False) for key in (REWRITE, "disable_meta_optimizer")}


def cpuinfo(tmp_path, extra=""):
    path = tmp_path / "cpuinfo"
    path.write_text(FLAGS.format(n=0, extra=extra) + FLAGS.format(n=1, extra=extra))
    return str(path)


def test_flags_are_read_from_cpuinfo(tmp_path):
    assert native_bfloat16_flags(cpuinfo(tmp_path, "avx512_vnni avx512_bf16")) == ("avx512_bf16",)
    assert native_bfloat16_flags(cpuinfo(tmp_path, "amx_tile amx_bf16 avx512_bf16")) == ("amx_bf16", "avx512_bf16")
    assert native_bfloat16_flags(cpuinfo(tmp_path, "avx512_vnni")) == ()
    assert native_bfloat16_flags(str(tmp_path / "missing")) == ()


def test_bfloat16_is_refused_without_the_units_and_nothing_changes(tmp_path):
    before = effective_options()
    with pytest.raises(PrecisionError, match=r"--precision bfloat16 .*reports neither.*--precision float32"):
        set_precision("bfloat16", cpuinfo(tmp_path, "avx512_vnni"))
    assert effective_options() == before
    with pytest.raises(PrecisionError, match=r"--precision must be one of float32, bfloat16; got 'float16'"):
        check_precision("float16")
    check_precision("float32", cpuinfo(tmp_path))  # float32 runs anywhere


def test_bfloat16_is_refused_with_onednn_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with pytest.raises(PrecisionError, match="TF_ENABLE_ONEDNN_OPTS=0"):
        check_precision("bfloat16", cpuinfo(tmp_path, "amx_bf16"))


def assert_bfloat16_close(float32, bfloat16, what):
    """bfloat16 changed the result (the rewrite ran) by no more than its rounding allows.

    Each product input is rounded to 8 significant bits (relative error <= 2^-9) and the sums are
    kept in float32, so a layer's output moves by <= 2^-8 of its scale; over the tiny
    generator's ~15 layers in series, with normalisations that rescale but do not amplify that
    relative error, the output moves by <= 15 * 2^-8 ~ 6% of its scale at worst and by about
    sqrt(15) * 2^-9 ~ 0.8% typically (independent roundings). Outputs lie in [-1, 1] (scale 1):
    the largest difference must stay below 0.12 (twice the worst case) and the mean below 0.02.
    """
    difference = np.abs(np.asarray(float32, np.float64) - np.asarray(bfloat16, np.float64))
    assert difference.max() > 1e-4, f"{what}: bfloat16 gave float32's result: the rewrite did not run"
    assert difference.max() < 0.12 and difference.mean() < 0.02, (what, difference.max(), difference.mean())


@needs_bfloat16
def test_exported_signature_computes_in_bfloat16(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export))
    generate = loaded.signatures["generate"]
    rng = np.random.default_rng(0)
    inputs = dict(image=tf.constant(rng.uniform(-1, 1, (3, 32, 32, 3)), tf.float32),
                  face_mask=tf.ones((3, 32, 32, 1)), target_age=tf.constant([3.0, 30.0, 75.0]))
    options = effective_options()
    float32 = generate(**inputs)["aged_image"].numpy()
    bfloat16 = in_precision(lambda: generate(**inputs)["aged_image"].numpy(), "bfloat16")()
    assert effective_options() == options  # restored after the call
    assert_bfloat16_close(float32, bfloat16, "generate")
    np.testing.assert_array_equal(generate(**inputs)["aged_image"].numpy(), float32)  # float32 again


@needs_bfloat16
def test_evaluate_runs_an_in_memory_network_in_bfloat16(tiny_run):
    from ragan_tf.evaluation.evaluate import functions_in_precision, load_model_functions

    float32, _ = load_model_functions(tiny_run)
    bfloat16 = functions_in_precision(load_model_functions(tiny_run, graph=True)[0], "bfloat16")
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    masks = np.ones((2, 32, 32, 1), "float32")
    groups = np.array([0, 2])
    assert_bfloat16_close(float32.age_transformer(images, masks, groups),
                          bfloat16.age_transformer(images, masks, groups), "age_transformer")
    assert_bfloat16_close(float32.age_transformer.sweep(images, masks, groups),
                          bfloat16.age_transformer.sweep(images, masks, groups), "sweep")


def test_the_commands_take_a_precision(tiny_export):
    from ragan_tf.cli import build_parser
    from ragan_tf.inference.ager import Ager

    parser = build_parser()
    assert parser.parse_args(["age", "a.jpg", "--model", "m", "--precision", "bfloat16"]).precision == "bfloat16"
    assert parser.parse_args(["evaluate", "--model", "m", "--out", "o"]).precision == "float32"
    with pytest.raises(SystemExit):
        parser.parse_args(["age", "a.jpg", "--model", "m", "--precision", "float16"])
    with pytest.raises(PrecisionError, match="--runtime onnx runs model.onnx in float32"):
        Ager(tiny_export, runtime="onnx", precision="bfloat16")
