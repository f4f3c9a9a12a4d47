from pathlib import Path

import cv2
import numpy as np
import pytest

from ragan_tf.cli import main
from ragan_tf.data.preview import synthetic_preview
from ragan_tf.data.age_groups import get_scheme


def test_show_dataset_writes_a_labelled_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["show-dataset", "synthetic", "--out", str(out), "--size", "32", "--identities", "3"]) == 0
    picture = cv2.imread(str(out))
    assert picture is not None
    expected = synthetic_preview(32, 3)
    np.testing.assert_array_equal(picture[..., ::-1], expected)
    # two panels of 11 columns (input + 10 groups would be 11; here 10 groups + label strip)
    assert picture.shape[1] > 2 * 10 * 32 and picture.shape[0] > 3 * 32
    assert "Wrote" in capsys.readouterr().out


def test_show_dataset_rows_are_identities_columns_are_ages():
    from ragan_tf.data import synthetic_faces

    ages = [float(age) for age in get_scheme("age_cgan").anchor_ages]
    assert ages[0] == 9.0 and ages[-1] == 70.0  # middle of 0-18; open-ended 60-120 anchored at 70
    picture = synthetic_preview(32, 2, "age_cgan")
    face = synthetic_faces.render(1, ages[3], 32).image
    # the cell of identity 1 at group 3 appears verbatim in the picture
    found = any(
        np.array_equal(picture[y : y + 32, x : x + 32], face)
        for y in range(picture.shape[0] - 31)
        for x in range(picture.shape[1] // 2 - 31)
    )
    assert found


@pytest.mark.parametrize(
    "argv, message",
    [
        (["show-dataset", "celeba", "--out", "x.png"], "takes 'synthetic' or a folder written by"),
        (["show-dataset", "synthetic", "--out", "x.png", "--age-groups", "decades"], "Unknown age-group scheme"),
        (["train", "no/such/pipeline.yaml"], "does not exist"),
    ],
)
def test_cli_errors_are_clear_and_write_nothing(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_train_help_lists_every_model_family(capsys):
    from ragan_tf.models.registry import family_names

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in family_names():
        assert f"  {name} " in text


def test_an_unknown_model_type_is_refused_naming_the_families(tmp_path, capsys):
    pipeline = Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_tiny.yaml"
    argv = ["train", str(pipeline), "--set", "model.type=gan2000", "--set", f"runtime.run_dir={tmp_path / 'run'}"]
    assert main(argv) == 2
    assert "known families: ragan, encoder_cdcgan, dcgan, vanilla_gan" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
