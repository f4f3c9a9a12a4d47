"""Dataset preview pictures: rows = identities, columns = age groups."""

import cv2
import numpy as np

from ragan_tf.data import synthetic_faces
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS
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
    faces = synthetic_faces.render_faces(
        [identity for identity in range(num_identities) for _ in ages], ages * num_identities, image_size, seed,
        non_face_labels,
    )
    grid = (num_identities, len(ages))
    images = faces.images.reshape(grid + faces.images.shape[1:])
    overlays = np.array([overlay_mask(image, mask) for image, mask in zip(faces.images, faces.face_masks)])
    overlays = overlays.reshape(images.shape)
    row_labels = [f"id {identity}" for identity in range(num_identities)]
    return side_by_side(
        image_grid(images, row_labels, scheme.labels, title="synthetic faces (age group ->)"),
        image_grid(overlays, row_labels, scheme.labels, title="face mask used by RAGAN"),
    )


def prepared_preview(data_dir, age_groups="ffhq_aging", per_group=4, split="train", scan=4000, cell_size=128):
    """Two panels for a `ragan-tf prepare` folder: faces per age group, and their face masks.

    Columns are the scheme's age groups, rows the first `per_group` faces of
    each group among the first `scan` examples of the split (empty cells stay
    grey when a group has fewer). Cells larger than `cell_size` are shrunk.

    Returns:
        uint8 [height, width, 3].
    """
    import tensorflow_datasets as tfds

    from ragan_tf.data.age_groups import get_scheme

    scheme = get_scheme(age_groups)
    builder = tfds.builder_from_directory(str(data_dir))
    size = min(builder.info.features["image"].shape[0], cell_size)
    cells = np.full((per_group, scheme.num_groups, size, size, 3), 128, np.uint8)
    overlays = cells.copy()
    filled = np.zeros(scheme.num_groups, int)
    for example in builder.as_dataset(split=split, shuffle_files=False).take(scan).as_numpy_iterator():
        group = scheme.group_of_range(int(example["age_low"]), int(example["age_high"]))
        if group < 0 or filled[group] >= per_group:
            continue
        image = cv2.resize(example["image"], (size, size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(example["face_mask"], (size, size), interpolation=cv2.INTER_AREA)
        cells[filled[group], group] = image
        overlays[filled[group], group] = overlay_mask(image, mask / 255.0)
        filled[group] += 1
        if filled.min() >= per_group:
            break
    title = f"{builder.info.name} {split} (age group ->)"
    return side_by_side(
        image_grid(cells, None, scheme.labels, title=title),
        image_grid(overlays, None, scheme.labels, title="face mask"),
    )


def age_group_chart(group_counts, labels, path, title):
    """A bar chart (PNG) of examples per age group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(4.0, 0.7 * len(labels) + 1.5), 3.2))
    bars = axes.bar(range(len(labels)), group_counts, color="#4c72b0")
    axes.bar_label(bars, fontsize=7)
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0)
    axes.set_xlabel("age group")
    axes.set_ylabel("examples")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
