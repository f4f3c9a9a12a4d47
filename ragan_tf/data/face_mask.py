"""The RAGAN face mask: which face-parsing classes count as "face".

RAGAN multiplies the encoder's image-level features by a face mask from a
face-parsing network; the paper does not list the classes. We follow LATS:
everything except background, hat, earring, necklace and cloth is face
(hair and neck included). Synthetic and FFHQ-Aging parsing maps share the
FFHQ-Aging class indices, so this code serves both.
"""

import numpy as np

DEFAULT_NON_FACE_LABELS = (0, 14, 15, 16, 18)


def face_mask_lookup(non_face_labels=DEFAULT_NON_FACE_LABELS):
    """A [256] float32 table: 1 for face classes, 0 for `non_face_labels`."""
    table = np.ones(256, np.float32)
    table[list(non_face_labels)] = 0.0
    return table


def face_mask_from_parsing(parsing, non_face_labels=DEFAULT_NON_FACE_LABELS):
    """Float32 face mask (same shape as `parsing`) from a uint8 parsing map."""
    return face_mask_lookup(non_face_labels)[np.asarray(parsing)]
