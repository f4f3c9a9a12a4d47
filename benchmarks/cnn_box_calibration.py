"""Where dlib's CNN face boxes sit against its HOG boxes, and what that does to the 68 landmarks.

    python benchmarks/cnn_box_calibration.py PHOTO_FOLDER [--count 400] [--seed 0]

dlib's 68-point shape predictor was trained on boxes of the HOG detector.
The MMOD CNN detector boxes faces differently (smaller and higher), so
landmarks placed in a raw CNN box land off the face's features. This script
takes `--count` photos of `PHOTO_FOLDER` (any face photos or aligned chips,
e.g. the UTKFace chips), keeps those where HOG and CNN both find one face
(IoU >= 0.3), and

1. fits the CNN -> HOG box map (`ragan_tf.faces.detection.CNN_TO_HOG`:
   centre offset and size ratio, relative to the CNN box; medians) on one
   half of the faces;
2. on the other half, places the 68 landmarks in the HOG box (reference), in
   the raw CNN box, and in the CNN box mapped by the fitted map and by the
   map the package ships (and, tried and rejected, a second landmark pass in
   the box HOG would draw around the first landmarks: "refit"), and prints
   per variant the share of faces with a keypoint further than 0.1 (and
   0.05) of the inter-ocular distance from the reference, and the median
   worst-keypoint error, over all 68 points and over the 12 eye points.

The HOG landmarks are the reference because they are what the predictor was
trained for; on faces only the CNN finds, the mapped box is the best guess.
"""

import argparse
import random
import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_rgb(path):
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[..., ::-1])


def relative_offsets(cnn, hog):
    """(dx, dy, sx, sy): HOG centre - CNN centre over the CNN box's width/height, and the size ratios."""
    cnn_size, hog_size = cnn[2:] - cnn[:2] + 1, hog[2:] - hog[:2] + 1
    shift = ((hog[:2] + hog[2:]) - (cnn[:2] + cnn[2:])) / 2 / cnn_size
    return np.concatenate([shift, hog_size / cnn_size])


def landmark_box(points):
    """(left, top, right, bottom) bounding box of landmarks."""
    return np.concatenate([points.min(0), points.max(0)])


def worst_error(points, reference, face=None):
    """Largest keypoint distance over the inter-ocular distance (eye centres, points 36-41, 42-47)
    of `face` (default: the reference)."""
    face = reference if face is None else face
    ocular = np.linalg.norm(face[36:42].mean(0) - face[42:48].mean(0))
    return float(np.max(np.linalg.norm(points - reference, axis=1)) / ocular)


def find_pairs(paths, cache=None):
    """(path, rgb, raw CNN box, HOG box) of the photos where both detectors find one face (IoU >= 0.3);
    the boxes are kept in `cache` (an .npz) so that other maps can be tried without detecting again."""
    from ragan_tf.faces import detection

    known = {}
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        known = {str(path): (cnn, hog) for path, cnn, hog in zip(stored["paths"], stored["cnn"], stored["hog"])}
    detector = detection.FaceDetector("hog")
    pairs, start = [], time.perf_counter()
    for number, path in enumerate(paths, 1):
        rgb = load_rgb(path)
        if rgb is None:
            continue
        if str(path) in known:
            pairs.append((path, rgb, *known[str(path)]))
            continue
        hog = detector.boxes(rgb)
        cnn = [detection._box(d.rect) for d in detection._cnn_detector()(rgb, detector._cnn_upsample(rgb))]
        if len(hog) == 1 and len(cnn) == 1 and detection._iou(hog[0], cnn[0]) >= 0.3:
            pairs.append((path, rgb, cnn[0], hog[0]))
        if number % 100 == 0:
            print(f"  {number} photos, {len(pairs)} faces found by both ({time.perf_counter() - start:.0f} s)")
    if cache is not None:
        np.savez(cache, paths=np.array([str(p) for p, *_ in pairs]), cnn=np.array([c for _, _, c, _ in pairs]),
                 hog=np.array([h for *_, h in pairs]))
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boxes", type=Path, help="an .npz to keep the detected boxes in (and reuse)")
    args = parser.parse_args()

    from ragan_tf.faces import detection

    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"{args.folder}: no .jpg / .png photos found.")
    random.Random(args.seed).shuffle(paths)
    pairs = find_pairs(paths[: args.count], args.boxes)
    if len(pairs) < 10:
        raise SystemExit(f"only {len(pairs)} faces found by both detectors; give more photos.")
    fit, held_out = pairs[0::2], pairs[1::2]
    offsets = np.array([relative_offsets(cnn, hog) for _, _, cnn, hog in fit])
    fitted = np.median(offsets, axis=0)
    spread = np.percentile(offsets, [25, 75], axis=0)
    print(f"\n{len(pairs)} faces found by both detectors in {min(args.count, len(paths))} photos; "
          f"map fitted on {len(fit)}, measured on {len(held_out)}")
    for name, value, (low, high) in zip(("dx", "dy", "sx", "sy"), fitted, spread.T):
        print(f"  {name} = {value:+.4f}  (quartiles {low:+.4f} .. {high:+.4f})")
    print(f"  shipped CNN_TO_HOG = {tuple(round(v, 4) for v in detection.CNN_TO_HOG)}")

    predict = detection.FaceDetector._landmarks
    mean_map = np.mean(offsets, axis=0)
    # The HOG box against the bounding box of the landmarks placed in it: a box drawn around
    # landmarks from any box, for a second pass of the predictor in the box it was trained on.
    from_landmarks = np.median([relative_offsets(landmark_box(predict(rgb, hog)), hog) for _, rgb, _, hog in fit],
                               axis=0)
    print(f"  HOG box from the landmarks' box: {tuple(round(float(v), 4) for v in from_landmarks)}")

    def refined(rgb, box, mapping=from_landmarks):
        return predict(rgb, detection.hog_like_box(landmark_box(predict(rgb, box)), mapping))

    variants = {
        "raw CNN box": lambda rgb, cnn: predict(rgb, cnn),
        "median map": lambda rgb, cnn: predict(rgb, detection.hog_like_box(cnn, fitted)),
        "mean map": lambda rgb, cnn: predict(rgb, detection.hog_like_box(cnn, mean_map)),
        "raw + refit": lambda rgb, cnn: refined(rgb, cnn),
        "median + refit": lambda rgb, cnn: refined(rgb, detection.hog_like_box(cnn, fitted)),
        "shipped map": lambda rgb, cnn: predict(rgb, detection.hog_like_box(cnn)),
    }
    errors = {name: [] for name in variants}
    eyes = {name: [] for name in variants}
    hog_refit = []
    for _, rgb, cnn, hog in held_out:
        reference = predict(rgb, hog)
        for name, landmarks in variants.items():
            points = landmarks(rgb, cnn)
            errors[name].append(worst_error(points, reference))
            eyes[name].append(worst_error(points[36:48], reference[36:48], reference))
        hog_refit.append(worst_error(refined(rgb, hog), reference))
    print(f"  (the refit moves HOG's own landmarks by a median {np.median(hog_refit):.3f}; "
          f"{np.mean(np.array(hog_refit) > 0.1):.1%} by more than 0.1)")
    print("\nLandmarks in a CNN box against those in the HOG box (held-out faces; error = worst of 68 "
          "keypoints / inter-ocular distance)")
    print(f"  {'variant':<16} {'> 0.10':>8} {'> 0.05':>8} {'median':>8}   eye points only: {'> 0.10':>6} "
          f"{'> 0.05':>7} {'median':>7}")
    for name, values in errors.items():
        values, eye = np.array(values), np.array(eyes[name])
        print(f"  {name:<16} {np.mean(values > 0.1):>8.1%} {np.mean(values > 0.05):>8.1%} {np.median(values):>8.3f}"
              f"   {'':>16}{np.mean(eye > 0.1):>6.1%} {np.mean(eye > 0.05):>7.1%} {np.median(eye):>7.3f}")


if __name__ == "__main__":
    main()
