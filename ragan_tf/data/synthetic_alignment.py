"""Calibrating `ragan_tf.faces.alignment.SYNTHETIC` on the synthetic renderer.

Kept in `ragan_tf.data` because it needs the renderer (`synthetic_faces`):
`ragan_tf.faces` does not import `ragan_tf.data`.
"""

import numpy as np

from ragan_tf.data.synthetic_faces import MIN_SIZE, render


def calibrate_synthetic_spec(identities=range(0, 400, 2), ages=np.linspace(10.0, 80.0, 8), size=64):
    """Fits `SYNTHETIC` (`ragan_tf.faces.alignment`): the spec whose crop of a render is the render's own frame.

    For each render, T is the spec's transform from the render's five
    landmarks to a crop of the render's size; a perfect spec makes T the
    identity. Least squares (scipy) over the displacement |T(p) - p|, in
    pixels at `size`, of a 9 x 9 grid of points spanning the frame (so scale
    errors count where they show: at the borders). Renders' landmarks are
    exact at any size, so they are drawn at 32 px and rescaled. `SYNTHETIC`
    holds the result of `calibrate_synthetic_spec()` (about 15 s):

        python -c "from ragan_tf.data.synthetic_alignment import calibrate_synthetic_spec as c; print(c())"

    Returns:
        (spec, landmark_errors, frame_errors): the fitted `AlignmentSpec`
        (rounded to 4 decimals) and, with it, |T(p) - p| in pixels at the
        landmarks, float64 [faces, 5], and at the grid, [faces, 81].
    """
    from ragan_tf.faces.alignment import fit_frame_spec

    faces = [render(identity, age, MIN_SIZE).landmarks for identity in identities for age in ages]
    landmarks = (np.asarray(faces, np.float64) + 0.5) * (size / MIN_SIZE) - 0.5
    return fit_frame_spec(landmarks, size, "synthetic", x0=(2.5, 2.8, 0.25))
