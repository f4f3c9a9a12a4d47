"""Dataset preview pictures: rows = identities, columns = age groups."""

import numpy as np

from ragan_tf.data import synthetic_faces
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS, face_mask_from_parsing
from ragan_tf.visualization import image_grid, overlay_mask, side_by_side


def synthetic_preview(
    image_size=64,
    num_identities=6,
    age_groups="ffhq_aging",
    seed=0,
    non_face_labels=DEFAULT_NON_FACE_LABELS,
):
    """Two panels: synthetic faces per identity and age group, and their face masks.

    Every cell is `synthetic_faces.render(identity, age)` at the group's
    anchor age (`AgeGroupScheme.anchor_ages`), so each row is one person aging left to right.

    Returns:
        uint8 [height, width, 3].
    """
    scheme = get_scheme(age_groups)
    ages = [float(age) for age in scheme.anchor_ages]
    faces = [[synthetic_faces.render(identity, age, image_size, seed) for age in ages]
             for identity in range(num_identities)]
    images = np.array([[face.image for face in row] for row in faces])
    overlays = np.array(
        [[overlay_mask(face.image, face_mask_from_parsing(face.parsing, non_face_labels))
          for face in row] for row in faces]
    )
    row_labels = [f"id {identity}" for identity in range(num_identities)]
    return side_by_side(
        image_grid(images, row_labels, scheme.labels, title="synthetic faces (age group ->)"),
        image_grid(overlays, row_labels, scheme.labels, title="face mask used by RAGAN"),
    )
