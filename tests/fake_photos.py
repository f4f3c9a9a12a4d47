"""Photos for the `age` tests: a synthetic face (which dlib's detectors find) on a larger flat canvas."""

import numpy as np

from ragan_tf.data.synthetic_faces import render


def photo_with_face(identity, size, canvas):
    """uint8 [*canvas, 3]: the identity's face, 30 years old, `size` px, centred on a flat colour."""
    image = np.full((*canvas, 3), (90, 120, 150), np.uint8)
    top, left = (canvas[0] - size) // 2, (canvas[1] - size) // 2
    image[top : top + size, left : left + size] = render(identity, 30.0, size).image
    return image
