"""Age-cGAN's latent optimisation: how much identity each step keeps, and what it costs.

    python benchmarks/age_cgan.py --run RUN [--faces 64] [--iterations 50] [--grid PNG]
                                  [--identity-run DIR] [--photos DIR --photo-count 32]

`RUN` is a trained Age-cGAN run folder (`ragan-tf train pipelines/age_cgan_synthetic_64.yaml`).
On `--faces` faces of the synthetic test split (identities never trained on), with each face's
own age group y0 fixed, it reconstructs G(z, y0) from

- z0 = E(x) (the encoder alone),
- z*_pixel = argmin ||x - G(z, y0)||^2 and
- z*_IP = argmin ||FR(x) - FR(G(z, y0))||^2, FR = dlib's ResNet descriptor ported to Keras,

each by scipy's L-BFGS-B (the paper's) and by in-graph Adam with the same iteration budget, and
prints per method: the synthetic identity embedder's verification rate and mean distance between
x and the reconstruction (the independent judge: a CNN trained on training identities), the
port's descriptor distance (the quantity z*_IP minimises: not an independent judge), pixel MSE,
and seconds per face. The paper reports 53 / 60 / 83 % face verification (OpenFace) for
z0 / pixel / IP; unconfirmed.

`--photos DIR` repeats the measurement on real face chips (UTKFace-style names `age_*.jpg`)
judged by dlib's own descriptor (`DlibFaceDescriptor`, numpy); that judge computes the same
function that z*_IP minimises, so it measures the optimisation, not an independent identity.

`--grid` writes the paper's figure: original, z0, pixelwise, identity-preserving reconstruction,
then G(z*_IP, y) for every age group. `--identity-run DIR` writes a run folder holding the same
trained networks with the identity-preserving optimisation attached (config and
`inference_model.keras`), for `ragan-tf evaluate --model DIR`.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def to_uint8(images):
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def reconstruct_all(ager, identity, images, source, iterations, batch_size):
    """{method: (latent [N, D], seconds per face)} for every method, in batches."""
    from ragan_tf.models.age_cgan import latent_optimization as lo

    methods = {"z0 = E(x)": None, "pixel, L-BFGS-B": ("pixel", "lbfgsb"), "IP, L-BFGS-B": ("identity", "lbfgsb"),
               "pixel, Adam": ("pixel", "adam"), "IP, Adam": ("identity", "adam")}
    results = {}
    for name, method in methods.items():
        latents, seconds, started = [], 0.0, time.perf_counter()
        for start in range(0, len(images), batch_size):
            batch, groups = images[start:start + batch_size], source[start:start + batch_size]
            z0 = np.asarray(ager.encoder(batch, training=False))
            if method is None:
                latents.append(z0)
                continue
            objective = (lo.identity_objective(ager.generator, identity, batch, groups) if method[0] == "identity"
                         else lo.pixel_objective(ager.generator, batch, groups))
            result = lo.optimize_latent(objective, z0, method[1], iterations, learning_rate=ager.latent_learning_rate)
            latents.append(result.latent)
            seconds += result.seconds
            print(f"  {name}: faces {start + len(batch)}/{len(images)}, objective {result.initial.mean():.4g} -> "
                  f"{result.final.mean():.4g} ({result.iterations} iterations, {result.seconds:.1f} s)", flush=True)
        total = seconds if method is not None else time.perf_counter() - started
        results[name] = (np.concatenate(latents), total / len(images))
    return results


def measure(ager, identity, judge, images, masks, source, results):
    """Markdown rows: per method, the judge's verification and distance, the port's distance, pixel MSE, time."""
    rows = []
    inputs_uint8 = to_uint8(images)
    port_inputs = np.asarray(identity(images))
    for name, (latent, seconds) in results.items():
        reconstruction = np.asarray(ager.generator(latent, source, training=False))
        distances = np.asarray(judge.pair_distances(inputs_uint8, to_uint8(reconstruction), face_masks=masks))
        valid = distances[~np.isnan(distances)]
        verified = float(np.mean(valid < judge.threshold)) if valid.size else float("nan")
        port = np.linalg.norm(port_inputs - np.asarray(identity(reconstruction)), axis=-1)
        mse = float(np.mean(np.square(images - reconstruction)))
        rows.append(f"| {name} | {100 * verified:.1f}% | {np.mean(valid):.3f} | {port.mean():.3f} | "
                    f"{100 * np.mean(port < 0.6):.1f}% | {mse:.4f} | {seconds:.2f} |")
    return rows


def write_grid(ager, images, source, results, path, count=6):
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.visualization import image_grid, save_png

    scheme = get_scheme("age_cgan")
    order = np.argsort(source[:48], kind="stable")[np.linspace(0, min(48, len(source)) - 1, count).astype(int)]
    columns = [to_uint8(images[order])]
    for name in ("z0 = E(x)", "pixel, L-BFGS-B", "IP, L-BFGS-B"):
        columns.append(to_uint8(ager.generator(results[name][0][order], source[order], training=False)))
    z_ip = results["IP, L-BFGS-B"][0][order]
    for group in range(scheme.num_groups):
        columns.append(to_uint8(ager.generator(z_ip, np.full(count, group, np.int32), training=False)))
    labels = ["input", "z0", "pixel", "IP", *scheme.labels]
    rows = [f"{scheme.labels[g]}" for g in source[order]]
    save_png(image_grid(np.stack(columns, 1), rows, labels,
                        title="Age-cGAN: input, reconstructions, then G(z*_IP, y)"), path)
    print(f"Wrote {path}")


def write_identity_run(run, ager, identity, out, iterations):
    """A run folder with the trained networks and the identity-preserving optimisation attached."""
    from ragan_tf.config import load_config, save_config
    from ragan_tf.models.age_cgan.age_cgan import AgeCGANAger

    config = load_config(Path(run) / "config.yaml", ["model.identity_network=dlib_resnet",
                                                     "model.latent_objective=identity",
                                                     "model.latent_optimizer=lbfgsb",
                                                     f"model.latent_iterations={iterations}"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ip_ager = AgeCGANAger(ager.encoder, ager.generator, identity_network=identity, latent_objective="identity",
                          latent_optimizer="lbfgsb", latent_iterations=iterations,
                          latent_tolerance=ager.latent_tolerance, latent_learning_rate=ager.latent_learning_rate,
                          name="ager")
    ip_ager.save(out / "inference_model.keras")
    save_config(config, out / "config.yaml")
    if (Path(run) / "history.csv").exists():
        shutil.copy(Path(run) / "history.csv", out / "history.csv")
    print(f"Wrote {out} (evaluate it with: ragan-tf evaluate --model {out})")


def real_photos(directory, count, size):
    """Face chips named `age_*` (UTKFace), spread over ages: float images [-1, 1], ages."""
    import cv2

    paths = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in (".jpg", ".png")
                   and p.name.split("_")[0].isdigit())
    if not paths:
        raise SystemExit(f"--photos {directory}: no images named AGE_*.jpg")
    ages = np.array([int(p.name.split("_")[0]) for p in paths])
    chosen = np.argsort(ages, kind="stable")[np.linspace(0, len(paths) - 1, count).astype(int)]
    images = [cv2.resize(cv2.cvtColor(cv2.imread(str(paths[i])), cv2.COLOR_BGR2RGB), (size, size),
                         interpolation=cv2.INTER_AREA) for i in chosen]
    return np.stack(images).astype(np.float32) / 127.5 - 1.0, ages[chosen].astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained Age-cGAN run folder")
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--grid", type=Path, default=None)
    parser.add_argument("--identity-run", type=Path, default=None)
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument("--photo-count", type=int, default=32)
    args = parser.parse_args(argv)

    import keras

    from ragan_tf.config import load_config
    from ragan_tf.data import synthetic_faces
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.evaluate import synthetic_test_set
    from ragan_tf.evaluation.identity import DlibFaceDescriptor, SyntheticIdentityEmbedder
    from ragan_tf.models.face_recognition_resnet import FaceRecognitionEmbedding, load_face_recognition_resnet

    run = Path(args.run)
    config = load_config(run / "config.yaml")
    ager = keras.models.load_model(run / "inference_model.keras", compile=False)
    identity = ager.identity_network or FaceRecognitionEmbedding(load_face_recognition_resnet())
    scheme = get_scheme(config.data.age_groups)
    test = synthetic_test_set(config.data, args.faces)
    source = scheme.group_of(test.ages).astype(np.int32)
    train_ids, _ = synthetic_faces.split_identities(config.data.synthetic_identities,
                                                    config.data.synthetic_test_fraction, config.data.synthetic_seed)
    started = time.perf_counter()
    judge = SyntheticIdentityEmbedder.train(config.data.image_size, train_ids[:300], epochs=10,
                                            seed=config.data.synthetic_seed)
    print(f"Trained the synthetic identity embedder in {time.perf_counter() - started:.0f} s "
          f"(threshold {judge.threshold:.3f}).", flush=True)

    results = reconstruct_all(ager, identity, test.images, source, args.iterations, args.batch_size)
    header = ["| latent | verified (synthetic embedder) | embedder distance | port distance (objective of IP) | "
              "port < 0.6 | pixel MSE | s / face |", "| --- | --- | --- | --- | --- | --- | --- |"]
    print(f"\n### Synthetic test faces ({len(test.images)}, {args.iterations} iterations)\n")
    print("\n".join(header + measure(ager, identity, judge, test.images, test.masks, source, results)), flush=True)
    if args.grid is not None:
        write_grid(ager, test.images, source, results, args.grid)
    if args.identity_run is not None:
        write_identity_run(run, ager, identity, args.identity_run, args.iterations)
    if args.photos is not None:
        images, ages = real_photos(args.photos, args.photo_count, config.data.image_size)
        photo_source = scheme.group_of(ages).astype(np.int32)
        keep = photo_source >= 0
        images, photo_source = images[keep], photo_source[keep]
        photo_results = reconstruct_all(ager, identity, images, photo_source, args.iterations, args.batch_size)
        print(f"\n### Real face chips ({len(images)} from {args.photos}; judged by dlib's own descriptor, the "
              f"function IP minimises)\n")
        print("\n".join(header + measure(ager, identity, PhotoJudge(DlibFaceDescriptor(detector="hog")), images, None,
                                         photo_source, photo_results)))


class PhotoJudge:
    """dlib's descriptor on 64 px chips enlarged to 150 px (its detector needs about 80 px faces)."""

    def __init__(self, descriptor):
        self.descriptor, self.threshold = descriptor, descriptor.threshold

    def pair_distances(self, a, b, face_masks=None):  # the photos have no masks: dlib finds the face
        import cv2

        def enlarge(images):
            return np.stack([cv2.resize(image, (150, 150), interpolation=cv2.INTER_CUBIC) for image in images])

        return self.descriptor.pair_distances(enlarge(a), enlarge(b))


if __name__ == "__main__":
    main()
