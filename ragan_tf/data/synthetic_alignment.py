"""Calibrating `ragan_tf.faces.alignment.SYNTHETIC` on the synthetic renderer.

Kept in `ragan_tf.data` because it needs the renderer (`synthetic_faces`):
`ragan_tf.faces` does not import `ragan_tf.data`.
"""

import numpy as np

from ragan_tf.data.synthetic_faces import MIN_SIZE, render
from ragan_tf.faces.affine import transform_points
from ragan_tf.faces.alignment import AlignmentSpec, alignment_transform


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
    from scipy.optimize import least_squares  # scikit-image's dependency; only needed here

    faces = [render(identity, age, MIN_SIZE).landmarks for identity in identities for age in ages]
    landmarks = (np.asarray(faces, np.float64) + 0.5) * (size / MIN_SIZE) - 0.5
    ticks = np.linspace(-0.5, size - 0.5, 9)
    grid = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)

    def displacements(params, points_of):
        spec = AlignmentSpec("synthetic", *params)
        moved = [transform_points(alignment_transform(face, spec, size), points_of(face)) for face in landmarks]
        return np.stack([points - points_of(face) for points, face in zip(moved, landmarks)])

    fit = least_squares(lambda params: displacements(params, lambda face: grid).ravel(), x0=(2.5, 2.8, 0.25))
    spec = AlignmentSpec("synthetic", *(round(float(value), 4) for value in fit.x))
    params = (spec.eye_scale, spec.mouth_scale, spec.centre_shift)
    landmark_errors = np.linalg.norm(displacements(params, lambda face: face), axis=-1)
    return spec, landmark_errors, np.linalg.norm(displacements(params, lambda face: grid), axis=-1)
