"""Exporting a trained generator: SavedModel with serving signatures, model card, TFLite, ONNX."""

from ragan_tf.export.saved_model import ExportError, ExportInputNotFound, export_saved_model, load_run

__all__ = ["ExportError", "ExportInputNotFound", "export_saved_model", "load_run"]
