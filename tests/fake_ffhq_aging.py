"""Fake FFHQ-Aging folders in the layout the authors' scripts write.

`ffhq_aging_labels.csv` with the real columns, and per image
`ffhq_aging{R}x{R}/{NNNNN - NNNNN % 1000:05d}/NNNNN.png` plus its parsing map
`.../parsings/NNNNN.png` (uint8 class indices). Every fake image shows the
same horizontal bands of parsing classes, `PARSING_BANDS`, so a test can tell
which pixels the face mask must keep.
"""

import csv
import os

import cv2
import numpy as np

COLUMNS = (
    "image_number",
    "age_group",
    "age_group_confidence",
    "gender",
    "gender_confidence",
    "head_pitch",
    "head_roll",
    "head_yaw",
    "left_eye_occluded",
    "right_eye_occluded",
    "glasses",
)
# Top to bottom: background, hair, skin, nose, skin, neck, cloth.
PARSING_BANDS = (0, 13, 1, 2, 1, 17, 18)


def label_row(image_number, age_group="20-29", gender="female", **columns):
    """One labels row that passes every pruning rule, with `columns` overriding fields."""
    row = {
        "image_number": image_number,
        "age_group": age_group,
        "age_group_confidence": 1.0,
        "gender": gender,
        "gender_confidence": 0.98,
        "head_pitch": -3.5,
        "head_roll": 1.25,
        "head_yaw": 12.0,
        "left_eye_occluded": 0.5,
        "right_eye_occluded": 3.0,
        "glasses": "None",
    }
    row.update(columns)
    return row


def fake_parsing(size):
    """[size, size] uint8 parsing map of `PARSING_BANDS`, equal-height bands."""
    band = np.arange(size) * len(PARSING_BANDS) // size
    return np.repeat(np.asarray(PARSING_BANDS, np.uint8)[band][:, None], size, axis=1)


def fake_image(size, image_number):
    """[size, size, 3] uint8 image whose colour follows the parsing bands."""
    parsing = fake_parsing(size).astype(np.int64)
    channels = [parsing * 13 % 256, (parsing * 29 + image_number) % 256, np.full_like(parsing, 90)]
    return np.stack(channels, -1).astype(np.uint8)


def image_subdir(image_number):
    return f"{image_number - image_number % 1000:05d}"


def write_ffhq_aging(root, rows, resolution=64, without_image=(), without_parsing=(), raw_lines=()):
    """Writes a fake FFHQ-Aging manual dir and returns it.

    Args:
        root: the folder to write (created).
        rows: labels rows (`label_row`); each gets an image and a parsing map.
        resolution: image side; the folder is `ffhq_aging{R}x{R}`.
        without_image, without_parsing: image numbers whose image or parsing
            map is left out.
        raw_lines: extra CSV lines written as they are (malformed rows).
    """
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "ffhq_aging_labels.csv"), "w", newline="") as labels:
        writer = csv.DictWriter(labels, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        for line in raw_lines:
            labels.write(line + "\r\n")
    image_dir = os.path.join(root, f"ffhq_aging{resolution}x{resolution}")
    for row in rows:
        number = int(row["image_number"])
        folder = os.path.join(image_dir, image_subdir(number))
        os.makedirs(os.path.join(folder, "parsings"), exist_ok=True)
        if number not in without_image:
            rgb = fake_image(resolution, number)
            cv2.imwrite(os.path.join(folder, f"{number:05d}.png"), rgb[..., ::-1])
        if number not in without_parsing:
            cv2.imwrite(os.path.join(folder, "parsings", f"{number:05d}.png"), fake_parsing(resolution))
    return root
