"""Fit the crop recipe of a dataset of aligned chips (UTKFace's), so `ragan-tf age` cuts photos the same way.

    python benchmarks/chip_alignment.py CHIP_FOLDER [--name utkface] [--count 400] [--seed 0]

A dataset distributed as aligned face chips (UTKFace's 200 x 200 "Aligned &
Cropped Faces") is prepared with `--alignment none`: the chips as they are.
A model trained on them must see a photo's face cut as the chips were. This
script detects the 68 landmarks (dlib HOG, one face per chip) on `--count`
chips spread over the folder, and fits the FFHQ-style `AlignmentSpec` whose
crop of each chip is the chip's own frame (`fit_frame_spec`: least squares
over a 9 x 9 grid spanning the frame), on half of them; it prints the spec
and, on the other half, how far the spec's crop lands from each chip's frame
(pixels at the chip's size and as a share of it), at the five landmarks and
over the frame. `ragan_tf.faces.alignment.UTKFACE` holds the result for
UTKFace.
"""

import argparse
import random
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--name", default="utkface")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import cv2

    from ragan_tf.faces import alignment
    from ragan_tf.faces.detection import FaceDetector

    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(args.seed).shuffle(paths)
    detector, faces, sizes = FaceDetector("hog"), [], set()
    for path in paths[: args.count]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[0] != bgr.shape[1]:
            continue
        found = detector.detect(np.ascontiguousarray(bgr[..., ::-1]))
        if len(found) == 1:
            faces.append(found[0])
            sizes.add(bgr.shape[0])
    if len(sizes) != 1 or len(faces) < 10:
        raise SystemExit(f"need >= 10 square chips of one size with one face each; got {len(faces)} of sizes {sizes}")
    size = sizes.pop()
    spec, _, _ = alignment.fit_frame_spec(faces[0::2], size, args.name)
    shipped = alignment.SPECS.get(args.name)
    print(f"{len(faces)} chips of {size} px with one face; fitted on {len(faces[0::2])}: {spec}")
    for label, candidate in [("fitted", spec), ("shipped", shipped), ("ffhq", alignment.FFHQ),
                             ("ffhq_aging", alignment.FFHQ_AGING)]:
        if candidate is None:
            continue
        landmark_errors, frame_errors = alignment.frame_errors(faces[1::2], size, candidate)
        print(f"  {label:<11} held-out |T(p) - p|: landmarks mean {landmark_errors.mean():.2f} px "
              f"(p95 {np.percentile(landmark_errors, 95):.2f}), frame mean {frame_errors.mean():.2f} px "
              f"(p95 {np.percentile(frame_errors, 95):.2f}) = {frame_errors.mean() / size:.1%} of the side")


if __name__ == "__main__":
    main()
