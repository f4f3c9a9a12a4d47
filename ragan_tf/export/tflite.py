"""TFLite export of the float core signature, checked against the SavedModel.

TFLite gets the float core only: `generate` for an age transformer (images
in [-1, 1] at the model size, face mask, continuous target age),
`generate_from_noise` for a sampler (noise, and ages for a conditional one).
Resizing and uint8 conversion are cheap to do on the device side and keep
the converted graph within TFLite's builtin ops.

Two files: `model.tflite` (float32) and `model_float16.tflite`, post-training
float16 quantization of the weights (about half the size; the interpreter
dequantizes them to float32, or runs float16 where the hardware has it).
Both are checked against the SavedModel on the same inputs (`core_inputs`),
with LiteRT's interpreter (`ai_edge_litert`, the `litert` extra) when it is
installed, else TensorFlow's deprecated `tf.lite.Interpreter`
(`tflite_interpreter` says which ran; the model card records it).
"""

from importlib import metadata
from pathlib import Path

import numpy as np
import tensorflow as tf

from ragan_tf import quiet
from ragan_tf.data import synthetic_faces
from ragan_tf.export.saved_model import ExportError


CORE_SIGNATURES = ("generate", "generate_from_noise")
TFLITE_FILE = "model.tflite"
TFLITE_FLOAT16_FILE = "model_float16.tflite"


def core_signature(signature_names):
    """The float core among a SavedModel's signature names (`generate` first)."""
    for name in CORE_SIGNATURES:
        if name in signature_names:
            return name
    raise ExportError(f"The SavedModel has none of the float core signatures {CORE_SIGNATURES}; "
                      f"it has {sorted(signature_names)}.")


def export_tflite(saved_model_dir, path, float16=False):
    """Converts the SavedModel's float core signature to a TFLite flatbuffer at `path`; with
    `float16`, its weights are stored as float16 (post-training float16 quantization)."""
    name = core_signature(tf.saved_model.load(str(saved_model_dir)).signatures)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[name])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    with quiet.known_lines_hidden(quiet.IDENTITY_TRUNCATE_IGNORED):  # the converter's (see ragan_tf/quiet.py)
        flatbuffer = converter.convert()
    Path(path).write_bytes(flatbuffer)
    return Path(path)


def check_inputs(image_size, count=4, seed=0):
    """Test inputs for parity checks: synthetic renders, their face masks, ages 5-85."""
    faces = synthetic_faces.render_faces(
        [1000 + index for index in range(count)], [20.0 + 15 * index for index in range(count)], image_size, seed
    )
    images = faces.images.astype(np.float32) / 127.5 - 1.0
    masks = faces.face_masks
    ages = np.linspace(5.0, 85.0, count).astype(np.float32)
    return images, masks, ages


def core_inputs(saved_model_dir, count=4):
    """`(core signature name, {input name: array [count, ...]}, the SavedModel's output [count, ...])`:
    the inputs every parity check (TFLite, ONNX) runs, synthetic renders for an age transformer,
    seeded noise for a sampler."""
    signatures = tf.saved_model.load(str(saved_model_dir)).signatures
    name = core_signature(signatures)
    function = signatures[name]
    specs = function.structured_input_signature[1]
    if name == "generate":
        image, face_mask, target_age = check_inputs(int(specs["image"].shape[1]), count)
        inputs = {"image": image, "face_mask": face_mask, "target_age": target_age}
    else:
        rng = np.random.default_rng(0)
        inputs = {"noise": rng.standard_normal((count, int(specs["noise"].shape[1]))).astype(np.float32)}
        if "target_age" in specs:
            inputs["target_age"] = np.linspace(5.0, 85.0, count).astype(np.float32)
    expected = next(iter(function(**{key: tf.constant(value) for key, value in inputs.items()}).values())).numpy()
    return name, inputs, expected


def tflite_interpreter():
    """`(interpreter class, what it is)`: LiteRT's when `ai_edge_litert` is importable (the
    `litert` extra), else TensorFlow's `tf.lite.Interpreter` (deprecated since TF 2.20)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter, f"tf.lite.Interpreter (tensorflow {tf.__version__})"
    return Interpreter, f"ai_edge_litert {_version('ai-edge-litert')}"


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def run_tflite(tflite_path, inputs, signature="generate"):
    """A TFLite signature runner on one example at a time.

    Args:
        tflite_path: the `.tflite` file.
        inputs: `{input name: array [N, ...]}`.
        signature: the signature to run.

    Returns:
        The signature's only output, concatenated over the N examples.
    """
    interpreter = tflite_interpreter()[0](model_path=str(tflite_path))
    runner = interpreter.get_signature_runner(signature)
    count = len(next(iter(inputs.values())))
    with quiet.known_lines_hidden(quiet.XNNPACK_DELEGATE_CREATED):  # TFLite's, at the first invocation
        outputs = [next(iter(runner(**{name: value[index : index + 1] for name, value in inputs.items()}).values()))
                   for index in range(count)]
    return np.concatenate(outputs)


def check_tflite(saved_model_dir, tflite_path, count=4, reference=None):
    """Largest absolute difference between the TFLite and SavedModel float core outputs, on
    synthetic renders (age transformers) or seeded noise (samplers): `core_inputs`, or the
    `reference` it returned."""
    name, inputs, expected = reference or core_inputs(saved_model_dir, count)
    return float(np.max(np.abs(run_tflite(tflite_path, inputs, name) - expected)))


def export_checked_tflite(saved_model_dir, reference=None):
    """Writes `model.tflite` and `model_float16.tflite` into the SavedModel folder and checks each
    against it (on `reference`, `core_inputs`' result, computed when not given); returns
    `{file name: its model-card entry}` (`ragan_tf.export.model_card`: the signature, weights,
    size, the interpreter that checked it and the largest difference)."""
    saved_model_dir = Path(saved_model_dir)
    reference = reference or core_inputs(saved_model_dir)
    interpreter = tflite_interpreter()[1]
    formats = {}
    for file_name, float16 in ((TFLITE_FILE, False), (TFLITE_FLOAT16_FILE, True)):
        path = export_tflite(saved_model_dir, saved_model_dir / file_name, float16=float16)
        formats[file_name] = {
            "format": "TFLite", "signature": reference[0], "weights": "float16" if float16 else "float32",
            "bytes": path.stat().st_size, "checked_with": interpreter,
            "max_abs_difference": check_tflite(saved_model_dir, path, reference=reference),
        }
    return formats
