"""ONNX export of the float core signature (`tf2onnx`), checked against the SavedModel (`onnxruntime`).

Like TFLite (`ragan_tf.export.tflite`), ONNX gets the float core only:
`generate` for an age transformer, `generate_from_noise` for a sampler; the
batch dimension stays dynamic. `model.onnx` is converted from the exported
SavedModel's own signature (what TF clients run), at `ONNX_OPSET`, and
checked with onnxruntime on the inputs the TFLite check runs
(`ragan_tf.export.tflite.core_inputs`); a graph onnxruntime cannot run is
refused (`ExportError`), not written. Known case: an age-group scheme of
two groups (`two_groups`), whose `age_group_weights` sums over an empty
axis; onnxruntime's CPU ReduceSum (1.30) returns that axis unreduced
([B, 0] rather than zeros [B], microsoft/onnxruntime#7563) and the next
op fails. The signature's input checks
(`ragan_tf.export.serving`: age range, batch sizes) are assertions that
tf2onnx drops, as the TFLite converter does: an ONNX caller keeps to the
contract itself.

tf2onnx, onnx and onnxruntime are the `onnx` extra (`pip install
'ragan-tf[onnx]'`); `require_onnx` refuses `--onnx` in one line before
anything is exported when they are missing. Tested: tf2onnx 1.17.0, onnx
1.23.2, onnxruntime 1.30.0 with TensorFlow 2.21.0.
"""

from importlib import metadata
from pathlib import Path

import numpy as np
import tensorflow as tf

from ragan_tf.errors import require_extra
from ragan_tf.export.saved_model import ExportError

ONNX_FILE = "model.onnx"
#: ONNX opset of `model.onnx` (ONNX 1.12, 2022): onnxruntime >= 1.12 and most other runtimes read it.
ONNX_OPSET = 17


def require_onnx():
    """Raises `MissingExtraError` (one line naming the extra) unless tf2onnx, onnx and onnxruntime import."""
    require_extra("onnx", "--onnx", "tf2onnx", "onnx", "onnxruntime")


def export_onnx(saved_model_dir, path, opset=ONNX_OPSET):
    """Converts the SavedModel's float core signature to an ONNX model at `path`.

    Raises:
        ExportError: tf2onnx left TensorFlow ops it cannot convert in the graph (named).
    """
    require_onnx()
    import onnx
    import tf2onnx

    from ragan_tf.export.tflite import core_signature

    loaded = tf.saved_model.load(str(saved_model_dir))  # kept alive: the signature captures its variables
    name = core_signature(loaded.signatures)
    signature = loaded.signatures[name]
    specs = signature.structured_input_signature[1]
    names = sorted(specs)  # the loaded signature's own order varies between loads
    input_signature = [specs[key] for key in names]
    core = tf.function(lambda *args: signature(**dict(zip(names, args))), input_signature=input_signature)
    model_proto, _ = tf2onnx.convert.from_function(core, input_signature=input_signature, opset=opset)
    unconverted = sorted(unknown_ops(model_proto.graph, onnx))
    if unconverted:
        raise ExportError(f"tf2onnx could not convert the `{name}` signature to ONNX opset {opset}: "
                          f"{', '.join(unconverted)} are not ONNX ops; export without --onnx.")
    Path(path).write_bytes(model_proto.SerializeToString())
    return Path(path)


def unknown_ops(graph, onnx):
    """`domain:op` of every node of `graph` (and its subgraphs) that is not an ONNX op: a
    TensorFlow op tf2onnx left as it was."""
    found = set()
    for node in graph.node:
        if not onnx.defs.has(node.op_type, node.domain):
            found.add(f"{node.domain}:{node.op_type}" if node.domain else node.op_type)
        for attribute in node.attribute:
            subgraphs = [*attribute.graphs, *([attribute.g] if attribute.HasField("g") else [])]
            for subgraph in subgraphs:
                found |= unknown_ops(subgraph, onnx)
    return found


def onnx_session(path):
    """An onnxruntime CPU session of the ONNX model at `path`, logging only fatal errors (the
    check reports what fails itself)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_onnx(saved_model_dir, onnx_path, count=4, reference=None):
    """Largest absolute difference between the ONNX model (run by onnxruntime) and the SavedModel's
    float core on the TFLite check's inputs (`ragan_tf.export.tflite.core_inputs`, or the
    `reference` it returned)."""
    from ragan_tf.export.tflite import core_inputs

    name, inputs, expected = reference or core_inputs(saved_model_dir, count)
    try:
        got = onnx_session(onnx_path).run(None, inputs)[0]
    except runtime_errors() as error:  # a graph tf2onnx wrote that onnxruntime cannot load or run
        import onnxruntime

        message = " ".join(str(error).split())
        raise ExportError(f"onnxruntime {onnxruntime.__version__} cannot run the `{name}` signature converted to "
                          f"ONNX ({message[:400]}); export without --onnx.") from None
    return float(np.max(np.abs(got - expected)))


def runtime_errors():
    """The exception classes onnxruntime raises for a model it cannot load or run."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NotImplemented", "RuntimeException")
    return tuple(getattr(state, name) for name in names if hasattr(state, name))


def export_checked_onnx(saved_model_dir, reference=None):
    """Writes `model.onnx` into the SavedModel folder and checks it against it (on `reference`,
    `core_inputs`' result, computed when not given); returns `{"model.onnx": its model-card
    entry}` (signature, opset, size, converter, runtime, difference)."""
    from ragan_tf.export.tflite import core_inputs

    saved_model_dir = Path(saved_model_dir)
    reference = reference or core_inputs(saved_model_dir)
    path = export_onnx(saved_model_dir, saved_model_dir / ONNX_FILE)
    return {ONNX_FILE: {
        "format": "ONNX", "signature": reference[0], "weights": "float32", "opset": ONNX_OPSET,
        "bytes": path.stat().st_size, "converted_with": f"tf2onnx {metadata.version('tf2onnx')}",
        "checked_with": f"onnxruntime {metadata.version('onnxruntime')}",
        "max_abs_difference": check_onnx(saved_model_dir, path, reference=reference),
    }}
