"""Pictures people look at: labelled image grids, mask overlays, PNG output.

Pure NumPy + OpenCV so the same code serves the CLI, the training callbacks
(TensorBoard images, per-epoch PNGs) and the evaluation reports.
"""

from pathlib import Path

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def to_uint8(images):
    """Images in [-1, 1] (any float array) -> uint8 in [0, 255]."""
    images = np.asarray(images, np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def overlay_mask(image, mask, colour=(255, 64, 64), alpha=0.45):
    """Tints `image` (uint8 [H, W, 3]) with `colour` where `mask` ([H, W] or [H, W, 1]) is 1."""
    mask = np.asarray(mask, np.float32).reshape(image.shape[:2])[..., None] * alpha
    tinted = image.astype(np.float32) * (1.0 - mask) + np.asarray(colour, np.float32) * mask
    return np.clip(np.round(tinted), 0, 255).astype(np.uint8)


def _text_scale(cell_size):
    return max(0.3, min(0.6, cell_size / 170.0))


def _label_strip(labels, cell, pad, height, vertical=False):
    """A white strip with one centred label per cell; `vertical` reads bottom to top."""
    if vertical:  # rotating counter-clockwise puts the strip's left end at the bottom
        labels = list(labels)[::-1]
    count = len(labels)
    length = count * (cell + pad) + pad
    strip = np.full((height, length, 3), 255, np.uint8)
    scale = _text_scale(cell)
    for index, label in enumerate(labels):
        (width, text_height), _ = cv2.getTextSize(str(label), _FONT, scale, 1)
        x = pad + index * (cell + pad) + max(0, (cell - width) // 2)
        y = (height + text_height) // 2
        cv2.putText(strip, str(label), (x, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.rot90(strip, 1).copy() if vertical else strip


def image_grid(images, row_labels=None, column_labels=None, pad=2, title=None):
    """Tiles `images` (uint8 [rows, cols, H, W, 3]) into one labelled picture.

    Args:
        images: uint8 array, or a nested list, of shape [rows, cols, H, W, 3].
        row_labels: optional label per row, written vertically on the left.
        column_labels: optional label per column, written above.
        pad: white pixels between cells.
        title: optional line of text above everything.

    Returns:
        uint8 [height, width, 3].
    """
    images = np.asarray(images, np.uint8)
    rows, cols, height, width = images.shape[:4]
    grid = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad, 3), 255, np.uint8)
    for row in range(rows):
        for col in range(cols):
            top, left = pad + row * (height + pad), pad + col * (width + pad)
            grid[top : top + height, left : left + width] = images[row, col]
    label_height = int(22 * _text_scale(width) / 0.3)
    if column_labels is not None:
        grid = np.concatenate([_label_strip(column_labels, width, pad, label_height), grid], 0)
    if row_labels is not None:
        strip = _label_strip(row_labels, height, pad, label_height, vertical=True)
        if column_labels is not None:
            strip = np.concatenate([np.full((label_height, label_height, 3), 255, np.uint8), strip], 0)
        grid = np.concatenate([strip, grid], 1)
    if title is not None:
        grid = np.concatenate([_label_strip([title], grid.shape[1] - 2 * pad, pad, label_height), grid], 0)
    return grid


def side_by_side(*panels, pad=8):
    """Joins pictures horizontally, padding shorter ones with white at the bottom."""
    height = max(panel.shape[0] for panel in panels)
    padded = []
    for index, panel in enumerate(panels):
        extra = np.full((height - panel.shape[0], panel.shape[1], 3), 255, np.uint8)
        padded.append(np.concatenate([panel, extra], 0))
        if index < len(panels) - 1:
            padded.append(np.full((height, pad, 3), 255, np.uint8))
    return np.concatenate(padded, 1)


def save_png(image, path):
    """Writes an RGB uint8 picture; creates the parent folder. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write {path} (is the extension an image format?).")
    return path


def save_loss_curves(history_csv, path, title=None):
    """Plots every logged loss of a run's `history.csv` per epoch (training solid, validation
    dashed), like the seed papers' loss figures (D-real, D-fake and G per epoch). Epochs where a
    loss was not measured (NaN: a training phase that did not run) are gaps. Returns the path,
    or None when the history is missing or empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    history_csv = Path(history_csv)
    if not history_csv.is_file():
        return None
    frame = pd.read_csv(history_csv)
    if frame.empty or "epoch" not in frame:
        return None
    frame = frame.drop_duplicates("epoch", keep="last").sort_values("epoch")
    epochs = frame["epoch"].to_numpy() + 1
    figure, axes = plt.subplots(figsize=(8, 4.5))
    columns = [column for column in frame.columns if column != "epoch"]
    colours = {}
    for column in columns:
        base = column.removeprefix("val_")
        colour = colours.setdefault(base, f"C{len(colours) % 10}")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        axes.plot(epochs, values, linestyle="--" if column.startswith("val_") else "-", marker=".", color=colour,
                  label=column)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (epoch mean)")
    axes.set_title(title or "training losses")
    axes.legend(fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
