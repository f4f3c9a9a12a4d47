"""Fake UTKFace folders: JPEG files named as in the real archive, malformed names included.

Files hold a flat grey image, or a synthetic face render of the age their
name starts with (dlib finds it at 128 px, so landmark masks can be made).
"""

import os

import cv2
import numpy as np

from ragan_tf.data.synthetic_faces import render

# (name, age, gender) of well-formed aligned-chip names; the 26- and 58-year-olds'
# names hash into the test split at test_fraction 0.1.
GOOD_CHIPS = (
    ("1_0_2_20161219140623097.jpg.chip.jpg", 1, 0),
    ("25_1_0_20170116190215347.jpg.chip.jpg", 25, 1),
    ("26_0_1_20170117195328001.jpg.chip.jpg", 26, 0),
    ("34_1_3_20170119164944624.jpg.chip.jpg", 34, 1),
    ("47_0_4_20170120133919372.jpg.chip.jpg", 47, 0),
    ("58_1_1_20170113012341007.jpg.chip.jpg", 58, 1),
    ("70_0_0_20170111182452832.jpg.chip.jpg", 70, 0),
    ("116_1_0_20170120134921760.jpg.chip.jpg", 116, 1),
)
# Real malformed names of the archive (missing race or gender, missing dot,
# a space, a wrong extension), and fields out of their codes.
MALFORMED_CHIPS = (
    "39_1_20170116174525125.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_3_20170109150557335.jpg.chip.jpg",
    "53__0_20170116184028385.jpg.chip.jpg",
    "55_0_0_20170116232725357jpg.chip.jpg",
    "24_0_1_20170116220224657 .jpg.chip.jpg",
    "44_1_4_20170116235150272.pg.chip.jpg",
    "30_2_0_20170116174525126.jpg.chip.jpg",
    "30_0_5_20170116174525127.jpg.chip.jpg",
    "3a_0_1_20170116174525128.jpg.chip.jpg",
)
OLD_CHIPS = ("121_0_0_20170120134921761.jpg.chip.jpg",)


def write_utkface(root, names, subfolder="UTKFace", size=64, render_faces=False):
    """Writes JPEG files called `names` into `root/subfolder` and returns that folder.

    Args:
        root: the manual dir (created).
        names: file names to write.
        subfolder: "UTKFace" as the archive extracts, or "" for `root` itself.
        size: image side.
        render_faces: draw a synthetic face of the age each name starts with
            (slower), instead of a flat image.
    """
    folder = os.path.join(root, subfolder)
    os.makedirs(folder, exist_ok=True)
    for identity, name in enumerate(names):
        rgb = np.full((size, size, 3), 128, np.uint8)
        if render_faces:
            age = int(name.split("_")[0])
            rgb = render(identity, min(age, 90), size=size).image
        cv2.imwrite(os.path.join(folder, name), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder
