"""How far a photo can be shrunk for face detection: time and faces found per detection size.

    python benchmarks/detection_rule.py PHOTO_FOLDER [--count 12] [--photo-sides 1024 2048 4032]
        [--face-fractions 0.04 0.08 0.15 0.3 0.6] [--rules 1024:1 768:1 640:1 512:1 512:0+1024:1]

`FaceDetector` looks for faces on a copy of the photo shrunk to
`max_detection_side` (then dlib's HOG detector doubles it `upsample` times),
and places the 68 landmarks on the full-resolution photo in the box mapped
back. This script measures what the detection size costs and what it loses.
It composes test photos from face chips in `PHOTO_FOLDER` (e.g. the UTKFace
chips: `--count` of them): each photo is `--photo-sides` px on its longer side
(4:3), a clutter background (other chips, enlarged and blurred) with one chip
pasted at a random place so that its side is `--face-fractions` of the
photo's longer side. The reference landmarks are those dlib finds on the chip
itself, carried to the photo by the paste's scale and offset.

A rule `SIDE:UPSAMPLE` detects at that longest side and upsample; `A+B` tries
rule A first and rule B only when A finds no face (coarse to fine). For each
rule, photo side and face size, it prints the share of photos where the face
is found (a detection whose worst keypoint is within 0.1 of the inter-ocular
distance of the reference), the median worst-keypoint error of the found
faces, and the median detection time (box cache cleared before every call;
dlib's models are loaded before timing). The detector is `auto` (HOG; the CNN
confirms weak HOG hits and searches when HOG finds nothing), as `ragan-tf age`
runs it.
"""

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FOUND_WITHIN = 0.1  # worst keypoint / inter-ocular distance


def load_rgb(path):
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[..., ::-1])


def parse_rule(text):
    """'512:0+1024:1' -> [(512, 0), (1024, 1)]."""
    steps = []
    for part in text.split("+"):
        side, _, upsample = part.partition(":")
        steps.append((int(side), int(upsample or 1)))
    return steps


def worst_error(points, reference):
    ocular = np.linalg.norm(reference[36:42].mean(0) - reference[42:48].mean(0))
    return float(np.max(np.linalg.norm(points - reference, axis=1)) / ocular)


def compose(face, clutter, photo_side, fraction, rng):
    """A 4:3 photo of `photo_side` px with `face` pasted at `fraction` of its longer side, and the
    paste's (scale, offset)."""
    import cv2

    width, height = photo_side, photo_side * 3 // 4
    tiles = [cv2.resize(tile, (width // 2, height // 2), interpolation=cv2.INTER_LINEAR) for tile in clutter]
    background = np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)
    background = cv2.GaussianBlur(cv2.resize(background, (width, height)), (0, 0), photo_side / 200)
    side = max(8, int(round(fraction * photo_side)))
    side = min(side, height)
    scale = side / face.shape[0]
    pasted = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x, y = rng.integers(0, width - side + 1), rng.integers(0, height - side + 1)
    photo = background.copy()
    photo[y : y + side, x : x + side] = pasted
    return photo, scale, np.array([x, y], np.float64)


def detect(rgb, rule):
    """Faces' landmarks by `rule` (coarse to fine), and the seconds it took (box cache cleared)."""
    from ragan_tf.faces import detection

    detection._BOX_CACHE.clear()
    start = time.perf_counter()
    for side, upsample in rule:
        faces = detection.FaceDetector("auto", upsample=upsample, max_detection_side=side).detect(rgb)
        if faces:
            break
    return faces, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photo-sides", type=int, nargs="+", default=[1024, 2048, 4032])
    parser.add_argument("--face-fractions", type=float, nargs="+", default=[0.04, 0.08, 0.15, 0.3, 0.6])
    parser.add_argument("--rules", nargs="+", default=["1024:1", "768:1", "640:1", "512:1", "512:0+1024:1"])
    args = parser.parse_args()

    from ragan_tf.faces import detection

    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"{args.folder}: no .jpg / .png photos found.")
    random.Random(args.seed).shuffle(paths)
    chip_detector = detection.FaceDetector("hog")
    faces, clutter_pool = [], []
    for path in paths:
        rgb = load_rgb(path)
        if rgb is None:
            continue
        if len(faces) < args.count:
            found = chip_detector.detect(rgb)
            if len(found) == 1:
                faces.append((rgb, found[0]))
                continue
        clutter_pool.append(rgb)
        if len(faces) >= args.count and len(clutter_pool) >= 4 * args.count:
            break
    rules = {text: parse_rule(text) for text in args.rules}
    load = os.getloadavg()
    print(f"detection rule benchmark; {len(faces)} chips with one HOG face from {args.folder}; "
          f"{os.cpu_count()} CPUs; load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}; "
          f"{time.strftime('%Y-%m-%dT%H:%M:%S')}")
    detect(faces[0][0], rules[args.rules[0]])  # loads dlib's models before timing
    rng = np.random.default_rng(args.seed)
    print("\n| photo side | face side (of photo) | " + " | ".join(f"`{text}`" for text in args.rules) + " |")
    print("|---|---|" + "---|" * len(args.rules))
    print("(each cell: faces found / median worst-keypoint error of found faces / median detection s)")
    for photo_side in args.photo_sides:
        for fraction in args.face_fractions:
            cells = {text: ([], [], []) for text in args.rules}
            for number, (face, landmarks) in enumerate(faces):
                clutter = [clutter_pool[(4 * number + k) % len(clutter_pool)] for k in range(4)]
                photo, scale, offset = compose(face, clutter, photo_side, fraction, rng)
                reference = landmarks * scale + offset
                for text, rule in rules.items():
                    found, seconds = detect(photo, rule)
                    errors = [worst_error(points, reference) for points in found]
                    best = min(errors, default=np.inf)
                    hits, error_list, times = cells[text]
                    hits.append(best <= FOUND_WITHIN)
                    if best <= FOUND_WITHIN:
                        error_list.append(best)
                    times.append(seconds)
            row = []
            for text in args.rules:
                hits, error_list, times = cells[text]
                error = f"{np.median(error_list):.3f}" if error_list else "-"
                row.append(f"{np.mean(hits):.0%} / {error} / {np.median(times):.3f}")
            face_px = int(round(fraction * photo_side))
            print(f"| {photo_side} | {face_px} px ({fraction:g}) | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
