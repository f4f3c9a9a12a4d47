"""The float core in other formats: TFLite with float16 weights, ONNX; parity bounds, card, refusals.

`tiny_export` (conftest) is exported with `tflite=True, onnx=True`: `model.tflite`,
`model_float16.tflite` and `model.onnx` beside the SavedModel, each checked against it.

Tolerances are derived from the rounding each format introduces, for a network
whose K weight tensors (kernels) each feed a normalisation (instance norm,
conditional batch norm, AdaIN: activations of unit scale) and whose output is
y = tanh(z). Each kernel and the affine parameters of the norm after it count as
2K roundings; a first-order relative error e in z moves y by at most
max_z (1 - tanh(z)**2) |z| e = 0.45 e.

- float16 weights: every weight is rounded to 11 significant bits, a relative error
  of at most u16 = 2**-11 = 4.9e-4 each; to first order these add over the 2K
  roundings: |dy| <= 0.45 * 2K * u16 = 0.9 K u16, times 4 for the cancellation in
  sums of mixed-sign terms (sum |w x| / |sum w x|, taken as 1 above):
  FLOAT16_TOLERANCE = 4 K u16 (2.5e-2 for the tiny RAGAN's K = 13; measured 2.1e-3,
  and 2.0 for the same model with its weights shuffled).
- ONNX (float32 both sides, other kernels and summation orders): a sum of N terms
  computed in another order differs by at most 2 N u32 (u32 = 2**-24) relative
  (recursive summation's worst case, each side); the longest sums are the norms'
  means over S x S = 1024 pixels at 32 px (convolutions sum at most 7 * 7 * 3 = 147
  terms): |dy| <= 0.45 * 2K * 2 N u32 = 1.8 K N u32, rounded up to
  ONNX_TOLERANCE = 2 K N u32 (1.6e-3; measured 1.4e-5, 2.0 shuffled). The worst case
  needs no further safety factor: typical reordering errors grow like sqrt(N), not N.
"""

import json
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

import fake_photos
from ragan_tf.cli import main
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.export import load_run
from ragan_tf.export.onnx_export import ONNX_OPSET, check_onnx, export_onnx, unknown_ops
from ragan_tf.export.saved_model import build_export_archive
from ragan_tf.export.tflite import check_tflite, export_tflite, tflite_interpreter
from ragan_tf.inference.ager import Ager

U16, U32 = 2.0**-11, 2.0**-24
FILES = ("model.tflite", "model_float16.tflite", "model.onnx")


@pytest.fixture(scope="module")
def bounds(tiny_run):
    """`(float16 tolerance, ONNX tolerance)` of the tiny run's generator (module docstring)."""
    config, generator = load_run(tiny_run)
    kernels = sum(variable.path.endswith("/kernel") for variable in generator.weights)
    assert kernels == 13  # the count the docstring's numbers use
    pixels = config.data.image_size**2
    return 4 * kernels * U16, 2 * kernels * pixels * U32


@pytest.fixture(scope="module")
def card(tiny_export):
    return json.loads((tiny_export / "signature.json").read_text())


@pytest.fixture(scope="module")
def shuffled(tiny_run, tmp_path_factory):
    """The tiny generator with every weight tensor's entries shuffled, exported as a SavedModel with its
    float16 TFLite and ONNX models: a broken model that converts as well as the real one."""
    config, generator = load_run(tiny_run)
    rng = np.random.default_rng(0)
    for variable in generator.weights:
        variable.assign(rng.permutation(variable.numpy().ravel()).reshape(variable.shape))
    folder = tmp_path_factory.mktemp("shuffled") / "model"
    build_export_archive(generator, get_scheme(config.data.age_groups)).write_out(str(folder), verbose=False)
    export_tflite(folder, folder / "model_float16.tflite", float16=True)
    export_onnx(folder, folder / "model.onnx")
    return folder


def test_float16_tflite_is_within_its_rounding_bound_and_smaller(tiny_export, card, bounds):
    entry = card["formats"]["model_float16.tflite"]
    assert entry["weights"] == "float16" and entry["signature"] == "generate"
    assert entry["bytes"] == (tiny_export / "model_float16.tflite").stat().st_size
    # the tiny model's graph outweighs its 27k weights; still, halving them shows
    assert entry["bytes"] < 0.8 * card["formats"]["model.tflite"]["bytes"]
    difference = card["checks"]["tflite_float16_max_abs_difference"]
    assert difference == entry["max_abs_difference"] <= bounds[0]
    assert difference > card["checks"]["tflite_max_abs_difference"]  # the weights really are rounded
    assert check_tflite(tiny_export, tiny_export / "model_float16.tflite") == pytest.approx(difference, rel=1e-6)


def test_onnx_is_within_float32_reordering_of_the_saved_model(tiny_export, card, bounds):
    import onnx
    import onnxruntime

    entry = card["formats"]["model.onnx"]
    assert entry["opset"] == ONNX_OPSET and entry["signature"] == "generate" and entry["weights"] == "float32"
    assert entry["bytes"] == (tiny_export / "model.onnx").stat().st_size
    assert entry["checked_with"] == f"onnxruntime {onnxruntime.__version__}"
    assert entry["converted_with"].startswith("tf2onnx ")
    difference = card["checks"]["onnx_max_abs_difference"]
    assert difference == entry["max_abs_difference"] <= bounds[1]
    assert check_onnx(tiny_export, tiny_export / "model.onnx") == pytest.approx(difference, rel=1e-6)
    model = onnx.load(str(tiny_export / "model.onnx"))
    assert unknown_ops(model.graph, onnx) == set()
    assert [node.name for node in model.graph.input] == ["face_mask", "image", "target_age"]
    assert model.graph.input[1].type.tensor_type.shape.dim[0].dim_param  # the batch stays dynamic


def test_shuffled_weights_fail_both_bounds_by_far(tiny_export, shuffled, bounds):
    float16, onnx_bound = bounds
    # against the real model's SavedModel: far outside both tolerances
    assert check_tflite(tiny_export, shuffled / "model_float16.tflite") > 10 * float16
    assert check_onnx(tiny_export, shuffled / "model.onnx") > 100 * onnx_bound
    # against their own SavedModel the bounds hold for these weights too
    assert check_tflite(shuffled, shuffled / "model_float16.tflite") <= float16
    assert check_onnx(shuffled, shuffled / "model.onnx") <= onnx_bound


def test_card_records_every_format_and_what_checked_it(tiny_export, card):
    assert set(card["formats"]) == set(FILES)
    assert set(card["checks"]) == {"tflite_max_abs_difference", "tflite_float16_max_abs_difference",
                                   "onnx_max_abs_difference"}
    for name in FILES:
        assert card["formats"][name]["bytes"] == (tiny_export / name).stat().st_size > 0
    interpreter = tflite_interpreter()[1]
    assert interpreter.startswith("ai_edge_litert ")  # the `litert` extra (in `dev`) is installed
    assert {card["formats"][name]["checked_with"] for name in FILES[:2]} == {interpreter}
    markdown = (tiny_export / "MODEL_CARD.md").read_text()
    for name in FILES:
        assert f"| `{name}` |" in markdown
    assert f"{card['checks']['onnx_max_abs_difference']:.3g} |" in markdown


def test_onnx_without_the_extra_is_refused_in_one_line_before_anything_is_written(tiny_run, tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # `import tf2onnx` now raises ImportError
    monkeypatch.setattr("ragan_tf.export.saved_model.load_run", lambda *args: pytest.fail("the run was loaded"))
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "model"), "--onnx"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'ragan-tf[onnx]'" in error and "tf2onnx" in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_check_falls_back_to_tf_lite_without_litert(tiny_export, card, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    assert tflite_interpreter()[0] is Interpreter
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    interpreter, name = tflite_interpreter()
    assert interpreter is tf.lite.Interpreter and name == f"tf.lite.Interpreter (tensorflow {tf.__version__})"
    # the fallback runs the same flatbuffers to the same parity
    for file_name, key in (("model.tflite", "tflite_max_abs_difference"),
                           ("model_float16.tflite", "tflite_float16_max_abs_difference")):
        assert check_tflite(tiny_export, tiny_export / file_name) == pytest.approx(card["checks"][key], abs=1e-6)


def test_ager_onnx_runtime_ages_like_the_saved_model(tiny_export):
    photo = fake_photos.photo_with_face(11, 128, (200, 280))
    expected = Ager(tiny_export, detector="hog").age_image(photo, [10, 60])
    ager = Ager(tiny_export, detector="hog", runtime="onnx")
    assert ager._saved_model is None  # the SavedModel is not even loaded
    got = ager.age_image(photo, [10, 60])
    assert got.aged_crops.shape == expected.aged_crops.shape == (1, 2, 32, 32, 3)
    # float cores 3e-5 apart: the uint8 results differ at most by one rounding step, rarely
    for ours, theirs in ((got.aged_crops, expected.aged_crops), (got.photos, expected.photos)):
        difference = np.abs(ours.astype(int) - theirs.astype(int))
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.01
    assert not np.array_equal(got.aged_crops[0, 0], got.aged_crops[0, 1])  # the ages still differ


def test_age_command_runtime_onnx_needs_model_onnx(tiny_export, tmp_path, capsys):
    from PIL import Image

    photo = tmp_path / "face.png"
    Image.fromarray(fake_photos.photo_with_face(11, 128, (200, 280))).save(photo)
    args = [str(photo), "--ages", "10", "60", "--gif-frames", "0", "--no-strip", "--runtime", "onnx"]
    assert main(["age", "--model", str(tiny_export), "--out", str(tmp_path / "aged"), *args]) == 0
    assert sorted(path.name for path in (tmp_path / "aged").iterdir()) == ["face_age10.png", "face_age60.png"]
    without = tmp_path / "without_onnx"
    shutil.copytree(tiny_export, without)
    (without / "model.onnx").unlink()
    capsys.readouterr()
    assert main(["age", "--model", str(without), "--out", str(tmp_path / "aged2"), *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no model.onnx" in error and "--onnx" in error
    with pytest.raises(ValueError, match="runtime must be one of saved_model, onnx"):
        Ager(tiny_export, runtime="tflite")


def test_a_graph_onnxruntime_cannot_run_is_refused_by_name(tiny_export, monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    from ragan_tf.export.saved_model import ExportError

    class Broken:  # what onnxruntime 1.30 raises for a two-group scheme (onnx_export docstring)
        def run(self, *args):
            raise Fail("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Sub node.\n"
                       "Can broadcast 0 by 0 or 1. 4 is invalid.")

    monkeypatch.setattr("ragan_tf.export.onnx_export.onnx_session", lambda path: Broken())
    with pytest.raises(ExportError, match=r"cannot run the `generate` signature converted to ONNX \(.*Sub node\. "
                                          r"Can broadcast.*\); export without --onnx\.$"):
        check_onnx(tiny_export, tiny_export / "model.onnx")
