"""TFLite export of the float core signature, checked against the SavedModel.

TFLite gets the float core only: `generate` for an age transformer (images
in [-1, 1] at the model size, face mask, continuous target age),
`generate_from_noise` for a sampler (noise, and ages for a conditional one).
Resizing and uint8 conversion are cheap to do on the device side and keep
the converted graph within TFLite's builtin ops.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from ragan_tf.data import synthetic_faces
from ragan_tf.export.saved_model import ExportError


CORE_SIGNATURES = ("generate", "generate_from_noise")


def core_signature(signature_names):
    """The float core among a SavedModel's signature names (`generate` first)."""
    for name in CORE_SIGNATURES:
        if name in signature_names:
            return name
    raise ExportError(f"The SavedModel has none of the float core signatures {CORE_SIGNATURES}; "
                      f"it has {sorted(signature_names)}.")


def export_tflite(saved_model_dir, path):
    """Converts the SavedModel's float core signature to a TFLite flatbuffer at `path`."""
    name = core_signature(tf.saved_model.load(str(saved_model_dir)).signatures)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[name])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    Path(path).write_bytes(converter.convert())
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


def run_tflite(tflite_path, inputs, signature="generate"):
    """A TFLite signature runner on one example at a time.

    Args:
        tflite_path: the `.tflite` file.
        inputs: `{input name: array [N, ...]}`.
        signature: the signature to run.

    Returns:
        The signature's only output, concatenated over the N examples.
    """
    interpreter = _interpreter_class()(model_path=str(tflite_path))
    runner = interpreter.get_signature_runner(signature)
    count = len(next(iter(inputs.values())))
    outputs = [next(iter(runner(**{name: value[index : index + 1] for name, value in inputs.items()}).values()))
               for index in range(count)]
    return np.concatenate(outputs)


def _interpreter_class():
    """LiteRT's interpreter when `ai_edge_litert` is installed, else TF's (deprecated) one."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter
    return Interpreter


def check_tflite(saved_model_dir, tflite_path, count=4):
    """Largest absolute difference between the TFLite and SavedModel float core outputs, on
    synthetic renders (age transformers) or seeded noise (samplers)."""
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
    return float(np.max(np.abs(run_tflite(tflite_path, inputs, name) - expected)))
