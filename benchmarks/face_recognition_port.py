"""The Keras port of dlib's face descriptor (`ragan_tf.models.face_recognition_resnet`) against dlib.

    python benchmarks/face_recognition_port.py [--synthetic 47] [--photos DIR] [--max-photos 200] [--seed 0]

Faces: skimage's astronaut (dlib HOG detector, five landmarks,
`get_face_chip(150, 0.25)`), `--synthetic` synthetic faces rendered at
150 px (used as chips as they are), and, with `--photos`, up to
`--max-photos` photos from that folder (spread over it with `--seed`) chipped
the astronaut's way; photos where HOG finds no face are skipped. For every
face both dlib's `compute_face_descriptor` (on the chip) and the port give a
descriptor. Prints:

- max and mean |port - dlib| per component, and the largest distance between
  the two descriptors of one face;
- over all pairs of faces, how often the same-person decision (distance
  < 0.6) agrees, and the largest change of a pair distance;
- the port run in float64 on the first 16 faces: how far each float32
  implementation is from it (the size of float32 rounding alone);
- time per face: the port on batches of 16 (after one warm-up batch) and
  dlib on the same batches (its list overload, which batches by 16 too).
"""

import argparse
import os
import random
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

BATCH = 16


def dlib_chip(image, detector, predictor):
    """dlib's 150 x 150 chip of the best-scoring HOG face in `image`, or None."""
    import dlib

    boxes, scores, _ = detector.run(image, 1)
    if not boxes:
        return None
    box = boxes[int(np.argmax(scores))]
    return np.asarray(dlib.get_face_chip(image, predictor(image, box), 150, 0.25))


def load_faces(args):
    """(names, uint8 [N, 150, 150, 3] chips)."""
    import dlib
    import face_recognition_models
    import skimage.data

    from ragan_tf.data.synthetic_faces import render
    from ragan_tf.faces.photo_io import load_photo

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    names, chips = ["astronaut"], [dlib_chip(skimage.data.astronaut(), detector, predictor)]
    for index in range(args.synthetic):
        names.append(f"synthetic_{index}")
        chips.append(render(index, 5.0 + 80.0 * index / max(args.synthetic - 1, 1), 150, seed=args.seed).image)
    if args.photos:
        paths = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        random.Random(args.seed).shuffle(paths)
        found = 0
        for path in paths:
            if found >= args.max_photos:
                break
            chip = dlib_chip(np.ascontiguousarray(load_photo(path).rgb), detector, predictor)
            if chip is not None:
                names.append(path.name)
                chips.append(chip)
                found += 1
    return names, np.stack(chips)


def pair_distances(descriptors):
    i, j = np.triu_indices(len(descriptors), k=1)
    return np.linalg.norm(descriptors[i] - descriptors[j], axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=47)
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--max-photos", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import dlib
    import face_recognition_models

    from ragan_tf.models import face_recognition_resnet as frr

    start = time.perf_counter()
    network = frr.read_dlib_resnet()
    parse_s = time.perf_counter() - start
    start = time.perf_counter()
    resnet = frr.load_face_recognition_resnet()
    load_s = time.perf_counter() - start
    recogniser = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    names, chips = load_faces(args)
    count = len(chips)
    print(f"{count} faces: astronaut, {args.synthetic} synthetic, {count - 1 - args.synthetic} photos")
    print(f"parse the .dat file: {parse_s * 1000:.0f} ms ({len(network.layers)} layers); "
          f"build + load the Keras model: {load_s:.2f} s")

    batches = [chips[i : i + BATCH] for i in range(0, count, BATCH)]
    resnet(batches[0].astype(np.float32))  # warm-up (graph tracing, oneDNN primitives)
    start = time.perf_counter()
    port = np.concatenate([resnet(batch.astype(np.float32)).numpy() for batch in batches])
    port_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = np.concatenate([np.array([np.asarray(d) for d in recogniser.compute_face_descriptor(list(batch))])
                                for batch in batches])
    dlib_s = time.perf_counter() - start

    difference = np.abs(port.astype(np.float64) - reference)
    per_face = np.linalg.norm(port - reference, axis=1)
    print(f"|port - dlib| per component: max {difference.max():.2e}, mean {difference.mean():.2e} "
          f"(descriptor components: mean |v| {np.abs(reference).mean():.3f}, max {np.abs(reference).max():.3f})")
    print(f"distance between the port's and dlib's descriptor of one face: max {per_face.max():.2e} "
          f"(worst: {names[int(np.argmax(per_face))]})")
    port_pairs, dlib_pairs = pair_distances(port.astype(np.float64)), pair_distances(reference)
    agree = np.mean((port_pairs < frr.THRESHOLD) == (dlib_pairs < frr.THRESHOLD))
    near = np.abs(dlib_pairs - frr.THRESHOLD)
    print(f"same/different-person decisions at {frr.THRESHOLD} over {len(port_pairs)} pairs: {agree:.2%} agree "
          f"({np.sum(dlib_pairs < frr.THRESHOLD)} same by dlib; closest pair to the threshold is "
          f"{near.min():.2e} away); largest change of a pair distance {np.abs(port_pairs - dlib_pairs).max():.2e}")

    resnet64 = frr.load_face_recognition_resnet(dtype="float64")
    exact = resnet64(chips[:BATCH].astype(np.float64)).numpy()
    print(f"float64 port on {len(exact)} faces: max |port32 - port64| {np.abs(port[:BATCH] - exact).max():.2e}, "
          f"max |dlib - port64| {np.abs(reference[:BATCH] - exact).max():.2e}")
    print(f"time per face: port {port_s / count * 1000:.1f} ms (batches of {BATCH}), "
          f"dlib {dlib_s / count * 1000:.1f} ms (batches of {BATCH})")


if __name__ == "__main__":
    main()
