"""`ragan-tf prepare` and the training pipeline on prepared folders (a user's folder + CSV as the raw data)."""

import dataclasses
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from ragan_tf.cli import main
from ragan_tf.config import DataConfig
from ragan_tf.data import prepare as prepare_module
from ragan_tf.data.pipeline import age_group_counts, count_examples, load_examples, make_dataset
from ragan_tf.data.prepare import PrepareError, prepare, read_plan
from ragan_tf.data.synthetic_faces import render

QUIET = dict(progress=lambda line: None)


def write_collection(folder, rows, images):
    """A raw folder + labels.csv; `images` maps file name -> uint8 RGB array or raw bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        path = folder / name
        if isinstance(image, bytes):
            path.write_bytes(image)
        else:
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def faces_folder(tmp_path_factory):
    """Six synthetic faces (dlib finds them), a truncated JPEG, a picture without a face."""
    folder = tmp_path_factory.mktemp("raw") / "faces"
    images, rows = {}, []
    for index, (identity, age) in enumerate([(1, 25), (2, 35), (3, 45), (4, 60), (5, 75), (6, 30)]):
        name = f"face{index}.jpg"
        images[name] = render(identity, float(age), 128).image
        rows.append({"file": name, "age": age, "identity": f"person{identity}", "gender": "f", "split": "train"})
    ok, jpeg = cv2.imencode(".jpg", render(7, 40.0, 128).image)
    images["truncated.jpg"] = jpeg.tobytes()[:400]
    images["wall.jpg"] = np.full((128, 128, 3), 120, np.uint8)
    rows += [
        {"file": "truncated.jpg", "age": 40, "identity": "person7", "gender": "m", "split": "train"},
        {"file": "wall.jpg", "age": 50, "identity": "person8", "gender": "m", "split": "test"},
    ]
    return write_collection(folder, rows, images)


def imbalanced_folder(root, young=24, old=4, unknown=2):
    """Noise images: `young` aged 25, `old` aged 75, `unknown` without an age."""
    rng = np.random.default_rng(0)
    images, rows = {}, []
    for index, age in enumerate([25] * young + [75] * old + [""] * unknown):
        name = f"img{index:03d}.png"
        images[name] = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        rows.append({"file": name, "age": age, "split": "train" if index % 5 else "test"})
    return write_collection(root, rows, images)


@pytest.fixture(scope="module")
def prepared_faces(faces_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "faces32"
    report = prepare("folder", faces_folder, out, image_size=32, shard_size=3, workers=1, **QUIET)
    return out, report


def test_prepare_aligns_faces_and_reports_every_skip(prepared_faces):
    out, report = prepared_faces
    assert report.listed == {"train": 7, "test": 1}
    assert report.written == {"train": 6, "test": 0}
    assert report.skipped == {"unreadable": 1, "no face": 1}
    assert report.mask_sources == {"landmarks": 6}
    assert report.group_counts["ffhq_aging"][5:10] == [1, 2, 1, 1, 1]
    for name in ("report.md", "report.json", "preview.png", "age_groups.png", "labels-train.csv", "prepare.json"):
        assert (out / name).is_file(), name
    markdown = (out / "report.md").read_text()
    assert "truncated.jpg" in markdown and "no face was detected" in markdown

    builder = tfds.builder_from_directory(str(out))
    assert builder.info.splits["train"].num_examples == 6 and builder.info.splits["train"].num_shards == 3
    examples = list(builder.as_dataset(split="train", shuffle_files=False).as_numpy_iterator())
    by_key = {example["key"].decode(): example for example in examples}
    face = by_key["face0.jpg"]
    assert face["image"].shape == (32, 32, 3) and face["face_mask"].shape == (32, 32, 1)
    assert (face["age"], face["age_low"], face["age_high"], face["gender"]) == (25.0, 25, 25, 1)
    mask = face["face_mask"][..., 0] / 255.0
    assert 0.15 < mask.mean() < 0.7  # a face, not the whole crop
    assert mask[16, 16] == 1.0 and mask[0, 0] == 0.0  # centre on the face, corner off it
    # The aligned crop matches the synthetic face drawn at 32 px to within the alignment recipe's tolerance.
    identities = sorted({int(example["identity"]) for example in examples})
    assert identities == [0, 1, 2, 3, 4, 5]


def interrupt_the_second_shard(monkeypatch):
    """Makes `prepare_shard` raise KeyboardInterrupt (Ctrl-C) on its second call; returns the real one."""
    calls, real = [], prepare_module.prepare_shard

    def interrupt_second(task):
        calls.append(task.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(prepare_module, "prepare_shard", interrupt_second)
    return real


def test_interrupted_prepare_continues_without_redoing_finished_shards(faces_folder, tmp_path, monkeypatch):
    real = interrupt_the_second_shard(monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(PrepareError, match="run the same command again"):
        prepare("folder", faces_folder, out, image_size=32, shard_size=3, workers=1, **QUIET)
    with pytest.raises(FileNotFoundError, match="not a prepared dataset folder"):
        read_plan(out)  # no metadata until every shard is done
    monkeypatch.setattr(prepare_module, "prepare_shard", real)
    report = prepare("folder", faces_folder, out, image_size=32, shard_size=3, workers=1, **QUIET)
    assert report.resumed == 1 and report.prepared_now == 3
    assert report.written == {"train": 6, "test": 0}
    assert not list(out.glob("*.incomplete")) and not list((out / "shards").glob("*.incomplete"))

    again = prepare("folder", faces_folder, out, image_size=32, shard_size=3, workers=1, **QUIET)
    assert again.prepared_now == 0 and again.resumed == 4

    with pytest.raises(PrepareError, match="image_size differ"):
        prepare("folder", faces_folder, out, image_size=64, shard_size=3, workers=1, **QUIET)
    redone = prepare("folder", faces_folder, out, image_size=64, shard_size=3, workers=1, overwrite=True, **QUIET)
    assert redone.resumed == 0 and read_plan(out)["image_size"] == 64


def test_prepare_in_worker_processes_matches_one_process(faces_folder, prepared_faces, tmp_path):
    out = tmp_path / "parallel"
    prepare("folder", faces_folder, out, image_size=32, shard_size=3, workers=2, **QUIET)
    read = lambda folder: {  # noqa: E731
        example["key"]: example["image"]
        for example in tfds.builder_from_directory(str(folder)).as_dataset(split="train").as_numpy_iterator()
    }
    serial, parallel = read(prepared_faces[0]), read(out)
    assert serial.keys() == parallel.keys()
    for key in serial:
        np.testing.assert_array_equal(serial[key], parallel[key])


def test_prepare_errors_are_clear(faces_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        prepare("folder", tmp_path / "nowhere", tmp_path / "out", **QUIET)
    with pytest.raises(ValueError, match="Unknown dataset 'lfw'"):
        prepare("lfw", faces_folder, tmp_path / "out", **QUIET)
    with pytest.raises(ValueError, match="has no option 'subset'"):
        prepare("folder", faces_folder, tmp_path / "out", options=["subset=wiki"], **QUIET)
    with pytest.raises(PrepareError, match="image_format"):
        prepare("folder", faces_folder, tmp_path / "out", image_format="webp", **QUIET)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="not a ragan-tf prepared folder"):
        prepare("folder", faces_folder, tmp_path / "busy", **QUIET)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    raw = imbalanced_folder(tmp_path_factory.mktemp("raw") / "noise")
    out = tmp_path_factory.mktemp("prepared") / "noise24"
    prepare("folder", raw, out, image_size=24, alignment="none", mask="none", shard_size=4, workers=1, **QUIET)
    config = DataConfig(dataset="folder", data_dir=str(out), image_size=24, shuffle_buffer=64, cache=False)
    return raw, out, config


def as_numpy(dataset, batches):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(batches)]


def test_pipeline_reads_prepared_data(imbalanced):
    raw, out, config = imbalanced
    assert count_examples(config, "train") == 24 and count_examples(config, "test") == 6
    spec = make_dataset(config, "train", 4, training=True).element_spec
    assert spec["image"].shape == (4, 24, 24, 3) and spec["face_mask"].shape == (4, 24, 24, 1)
    batch = as_numpy(make_dataset(config, "train", 100, training=False, repeat=False), 1)
    assert not batch  # 22 examples with an age: no full batch of 100 (remainder dropped)
    batch = as_numpy(make_dataset(config, "train", 22, training=False, repeat=False), 1)[0]
    assert sorted(batch["age_group"]) == [5] * 19 + [9] * 3  # unknown ages are left out
    assert np.all(batch["face_mask"] == 1.0)  # mask "none": nothing masked out
    labels = pd.read_csv(raw / "labels.csv").set_index("file")
    rows = {example["key"].decode(): example for example in load_examples(config, "train")[0].as_numpy_iterator()}
    expected = cv2.resize(cv2.imread(str(raw / "img001.png"))[:, 4:44, ::-1], (24, 24), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(rows["img001.png"]["image"], expected)
    assert rows["img001.png"]["age"] == labels.loc["img001.png", "age"]
    unconditional = dataclasses.replace(config, age_groups="unconditional")
    batch = as_numpy(make_dataset(unconditional, "train", 24, training=False, repeat=False), 1)[0]
    assert np.all(batch["age_group"] == 0) and np.isnan(batch["age"]).sum() == 2


def test_balanced_sampling_draws_each_age_group_equally(imbalanced):
    _, _, config = imbalanced
    np.testing.assert_array_equal(age_group_counts(config, "train")[[5, 9]], [19, 3])
    plain = np.concatenate([b["age_group"] for b in as_numpy(make_dataset(config, "train", 50, training=True), 8)])
    balanced_config = dataclasses.replace(config, balance_age_groups=True)
    balanced = np.concatenate(
        [b["age_group"] for b in as_numpy(make_dataset(balanced_config, "train", 50, training=True), 8)]
    )
    assert set(balanced) == {5, 9}
    assert abs(np.mean(plain == 9) - 3 / 22) < 0.06  # the data's own share
    assert abs(np.mean(balanced == 9) - 0.5) < 0.08  # 400 draws, binomial sd 0.025


def test_pipeline_shards_files_between_hosts(imbalanced):
    _, _, config = imbalanced
    keys = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(2, pipeline_id, 2)
        dataset = make_dataset(config, "train", 2, training=False, input_context=context, repeat=False)
        assert dataset.element_spec["image"].shape[0] == 1
        keys.append({float(b["image"].sum()) for b in as_numpy(dataset, 100)})
    assert keys[0] and keys[1] and not keys[0] & keys[1]
    assert len(keys[0]) + len(keys[1]) == 22


def test_pipeline_config_errors(imbalanced):
    _, out, config = imbalanced
    with pytest.raises(ValueError, match="holds 'folder', but data.dataset is 'utkface'"):
        make_dataset(dataclasses.replace(config, dataset="utkface"), "train", 2, training=True)
    with pytest.raises(ValueError, match="set data.data_dir"):
        make_dataset(dataclasses.replace(config, data_dir=None), "train", 2, training=True)
    with pytest.raises(FileNotFoundError, match="not a prepared dataset folder"):
        make_dataset(dataclasses.replace(config, data_dir=str(out / "shards")), "train", 2, training=True)
    with pytest.raises(ValueError, match="Split 'holdout' does not exist"):
        make_dataset(config, "holdout", 2, training=True)


def test_prepare_and_show_dataset_commands(tmp_path, capsys):
    raw = imbalanced_folder(tmp_path / "raw", young=6, old=2, unknown=0)
    out = tmp_path / "prepared"
    code = main(["prepare", "folder", "--manual-dir", str(raw), "--out", str(out), "--size", "16",
                 "--alignment", "none", "--mask", "none", "--image-format", "png", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "8 records in 2 shards" in printed and "Wrote 8 examples" in printed
    assert json.loads((out / "report.json").read_text())["written"] == {"test": 2, "train": 6}
    assert main(["show-dataset", str(out), "--out", str(tmp_path / "grid.png"), "--identities", "2"]) == 0
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid is not None and grid.shape[1] > 10 * 16
    assert main(["prepare", "folder", "--manual-dir", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "labels.csv" in capsys.readouterr().err
    assert os.path.exists(out / "report.md")


def test_uint8_batches_and_resizing(imbalanced):
    _, _, config = imbalanced
    floats = as_numpy(make_dataset(config, "train", 22, training=False, repeat=False), 1)[0]
    uint8_config = dataclasses.replace(config, image_dtype="uint8")
    raw = as_numpy(make_dataset(uint8_config, "train", 22, training=False, repeat=False), 1)[0]
    assert raw["image"].dtype == np.uint8 and raw["face_mask"].dtype == np.uint8
    np.testing.assert_array_equal(raw["image"].astype(np.float32) * np.float32(1 / 127.5) - 1, floats["image"])
    small = as_numpy(make_dataset(dataclasses.replace(config, image_size=12), "train", 22, training=False, repeat=False), 1)[0]
    assert small["image"].shape == (22, 12, 12, 3)
    expected = cv2.resize(((floats["image"][0] + 1) * 127.5).round().astype(np.uint8), (12, 12), interpolation=cv2.INTER_AREA)
    assert np.abs((small["image"][0] + 1) * 127.5 - expected).max() <= 1.01


def test_ragan_trains_on_a_prepared_dataset_by_changing_the_data_lines(imbalanced, tmp_path):
    from ragan_tf.config import load_config
    from ragan_tf.training.train import train

    _, out, _ = imbalanced
    config = load_config(
        Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_tiny.yaml",
        [
            "data.dataset=folder",
            f"data.data_dir={out}",
            "data.image_dtype=uint8",
            "data.balance_age_groups=true",
            "training.epochs=1",
            "training.steps_per_epoch=2",
            f"runtime.run_dir={tmp_path / 'run'}",
        ],
    )
    model, history = train(config, verbose=0)
    assert np.all(np.isfinite(history.history["g_loss"])) and len(history.history["g_loss"]) == 1
    assert (tmp_path / "run" / "inference_model.keras").is_file()
    assert (tmp_path / "run" / "samples" / "epoch_001.png").is_file()


def test_a_limit_spreads_over_the_ages_not_the_first_names():
    from ragan_tf.data.face_records import FaceRecord
    from ragan_tf.data.prepare import representative_records

    # Names that sort against the ages, as UTKFace's "10_..." < "9_..." do.
    records = [FaceRecord(key=f"{99 - age:03d}.jpg", image_path="", split="train", age_low=age, age_high=age)
               for age in range(100)]
    kept = representative_records(records, 5)
    assert sorted(record.age_low for record in kept) == [0, 25, 50, 74, 99]
    assert [record.key for record in kept] == sorted(record.key for record in kept)  # processed in name order
    unknown = [FaceRecord(key=f"u{index}", image_path="", split="train") for index in range(3)]
    assert len(representative_records(records[:2] + unknown, 10)) == 5  # fewer than the limit: all


def test_the_report_names_the_images_in_which_no_face_was_found(tmp_path):
    from fake_utkface import GOOD_CHIPS, write_utkface

    names = [name for name, _, _ in GOOD_CHIPS[:4]]
    write_utkface(tmp_path / "raw", names)  # flat grey chips: no face to find
    report = prepare("utkface", tmp_path / "raw", tmp_path / "out", image_size=32, workers=1, **QUIET)
    keys = sorted(f"UTKFace/{name}" for name in names)
    assert report.mask_sources == {"none": 4} and sorted(report.unmasked_examples) == keys
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "No face was found in these 4 images" in markdown and all(f"`{key}`" in markdown for key in keys)
    assert sorted(json.loads((tmp_path / "out" / "report.json").read_text())["unmasked_examples"]) == keys


def test_no_face_skip_drops_the_chips_without_a_face_and_keep_is_the_old_behaviour(tmp_path):
    from fake_utkface import GOOD_CHIPS, write_utkface

    faces = [name for name, _, _ in GOOD_CHIPS[1:3]]
    blanks = [name for name, _, _ in GOOD_CHIPS[3:5]]
    write_utkface(tmp_path / "raw", faces, size=160, render_faces=True)
    write_utkface(tmp_path / "raw", blanks, size=160)
    report = prepare("utkface", tmp_path / "raw", tmp_path / "skip", image_size=32, workers=1, no_face="skip", **QUIET)
    assert sum(report.written.values()) == 2 and report.mask_sources == {"landmarks": 2}
    assert report.skipped == {"no face": 2}
    assert sorted(report.skipped_examples["no face"]) == sorted(f"UTKFace/{name}" for name in blanks)
    kept = prepare("utkface", tmp_path / "raw", tmp_path / "keep", image_size=32, workers=1, **QUIET)
    assert sum(kept.written.values()) == 4 and kept.mask_sources == {"landmarks": 2, "none": 2}
    with pytest.raises(PrepareError, match="no_face"):
        prepare("utkface", tmp_path / "raw", tmp_path / "bad", image_size=32, no_face="drop", **QUIET)


def test_a_folder_prepared_before_no_face_existed_still_resumes(tmp_path):
    from fake_utkface import GOOD_CHIPS, write_utkface

    write_utkface(tmp_path / "raw", [name for name, _, _ in GOOD_CHIPS[:2]])
    prepare("utkface", tmp_path / "raw", tmp_path / "out", image_size=32, workers=1, **QUIET)
    plan_path = tmp_path / "out" / prepare_module.PLAN_FILE
    plan = json.loads(plan_path.read_text())
    del plan["no_face"]  # as an older ragan-tf wrote it
    plan_path.write_text(json.dumps(plan))
    again = prepare("utkface", tmp_path / "raw", tmp_path / "out", image_size=32, workers=1, **QUIET)
    assert again.prepared_now == 0 and sum(again.written.values()) == 2
    with pytest.raises(PrepareError, match="no_face"):
        prepare("utkface", tmp_path / "raw", tmp_path / "out", image_size=32, no_face="skip", **QUIET)


def test_every_image_skipped_is_one_clear_error_that_keeps_what_was_there(tmp_path, monkeypatch):
    raw = write_collection(tmp_path / "raw", [{"file": f"bad{index}.png", "age": 30 + index, "split": "train"}
                                              for index in range(3)],
                           {f"bad{index}.png": b"not an image" for index in range(3)})
    fast = dict(image_size=32, alignment="none", mask="none", shard_size=1, workers=1, **QUIET)
    (tmp_path / "empty").mkdir()  # an --out made beforehand stays, empty
    with pytest.raises(PrepareError, match=r"none of the 3 images listed in .*raw could be prepared, so nothing was "
                                           r"written to .*empty: unreadable: 3, e.g. bad0.png \("):
        prepare("folder", raw, tmp_path / "empty", **fast)
    assert list((tmp_path / "empty").iterdir()) == []
    real = interrupt_the_second_shard(monkeypatch)
    with pytest.raises(PrepareError, match="run the same command again"):
        prepare("folder", raw, tmp_path / "resumed", **fast)
    before = sorted(path.name for path in (tmp_path / "resumed").rglob("*"))
    monkeypatch.setattr(prepare_module, "prepare_shard", real)
    with pytest.raises(PrepareError, match="none of the 3 images"):
        prepare("folder", raw, tmp_path / "resumed", **fast)
    assert sorted(path.name for path in (tmp_path / "resumed").rglob("*")) == before  # the earlier run's shard stays


def test_a_split_whose_every_image_was_skipped_does_not_stop_the_others(tmp_path):
    rng = np.random.default_rng(0)
    raw = write_collection(tmp_path / "raw", [{"file": "bad.png", "age": 30, "split": "train"},
                                              {"file": "good.png", "age": 50, "split": "test"}],
                           {"bad.png": b"not an image", "good.png": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)})
    report = prepare("folder", raw, tmp_path / "out", image_size=32, alignment="none", mask="none", workers=1, **QUIET)
    assert report.written == {"test": 1, "train": 0} and (tmp_path / "out" / "preview.png").is_file()
