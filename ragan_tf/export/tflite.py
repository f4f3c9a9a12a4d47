"""TFLite export of the `generate` signature, checked against the SavedModel.

TFLite gets the float core only (images in [-1, 1] at the model size, face
mask, continuous target age): resizing and uint8 conversion are cheap to do
on the device side and keep the converted graph within TFLite's builtin ops.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from ragan_tf.data import synthetic_faces
from ragan_tf.data.face_mask import face_mask_from_parsing


def export_tflite(saved_model_dir, path):
    """Converts the SavedModel's `generate` signature to a TFLite flatbuffer at `path`."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=["generate"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    Path(path).write_bytes(converter.convert())
    return Path(path)


def check_inputs(image_size, count=4, seed=0):
    """Test inputs for parity checks: synthetic renders, their face masks, ages 5-85."""
    faces = [synthetic_faces.render(1000 + index, 20.0 + 15 * index, image_size, seed) for index in range(count)]
    images = np.stack([face.image for face in faces]).astype(np.float32) / 127.5 - 1.0
    masks = np.stack([face_mask_from_parsing(face.parsing) for face in faces])[..., None]
    ages = np.linspace(5.0, 85.0, count).astype(np.float32)
    return images, masks, ages


def run_tflite(tflite_path, image, face_mask, target_age):
    """The TFLite `generate` runner on one example at a time; returns aged images [N, S, S, 3]."""
    interpreter = _interpreter_class()(model_path=str(tflite_path))
    runner = interpreter.get_signature_runner("generate")
    outputs = [
        runner(image=image[index : index + 1], face_mask=face_mask[index : index + 1],
               target_age=target_age[index : index + 1])["aged_image"]
        for index in range(len(image))
    ]
    return np.concatenate(outputs)


def _interpreter_class():
    """LiteRT's interpreter when `ai_edge_litert` is installed, else TF's (deprecated) one."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter
    return Interpreter


def check_tflite(saved_model_dir, tflite_path, count=4):
    """Largest absolute difference between TFLite and SavedModel `generate` outputs."""
    generate = tf.saved_model.load(str(saved_model_dir)).signatures["generate"]
    image_size = int(generate.structured_input_signature[1]["image"].shape[1])
    image, face_mask, target_age = check_inputs(image_size, count)
    expected = generate(image=tf.constant(image), face_mask=tf.constant(face_mask),
                        target_age=tf.constant(target_age))["aged_image"].numpy()
    return float(np.max(np.abs(run_tflite(tflite_path, image, face_mask, target_age) - expected)))
