"""Face tooling shared by data preparation, inference and evaluation.

- `photo_io`: loading users' photos safely (EXIF, greyscale, alpha, 16-bit,
  decompression bombs), atomic saving, the shrunk copy detectors see.
- `landmarks`: the 5-point landmark order and its derivation from dlib's 68.
- `affine`: 2x3 affine matrices (apply, compose, invert, resize) and an
  anti-aliased `warp_image`.
- `detection`: `FaceDetector` (dlib HOG with CNN fallback and confirmation,
  the 68-point shape predictor), dlib model loading.
- `landmark_mask`: the soft face mask built from landmarks.
- `alignment`: `AlignmentSpec` and `SPECS` (FFHQ, FFHQ-Aging, SYNTHETIC), the
  alignment transform, `align_face` and `FaceAligner`.

Layering: this package imports none of `ragan_tf.data`, `ragan_tf.inference`,
`ragan_tf.evaluation`, `ragan_tf.models` (nor `ragan_tf.training`,
`ragan_tf.export`), so all of them can build on it (`tests/test_layering.py`
checks this). Importing `ragan_tf.faces` itself imports no submodule.
"""
