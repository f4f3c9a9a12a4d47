"""`ragan-tf age` and the `Ager` API: whole photos back, every bad input refused by name."""

import numpy as np
import pytest
from PIL import Image

from ragan_tf.cli import main
from ragan_tf.export.model_card import read_model_card
from ragan_tf.inference.ager import Ager, NoFaceError
from ragan_tf.inference.outputs import output_names

import fake_photos

AGES = [10, 60]


def photo_with_face(identity=11, size=128, canvas=(200, 280)):
    return fake_photos.photo_with_face(identity, size, canvas)


@pytest.fixture(scope="module")
def ager(tiny_export):
    return Ager(tiny_export)


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "face.png"
    Image.fromarray(photo_with_face()).save(path)
    return path


def run_age(tiny_export, photos, out, *extra):
    return main(["age", *map(str, photos), "--model", str(tiny_export), "--ages", *map(str, AGES),
                 "--out", str(out), "--gif-frames", "3", *extra])


def test_ager_returns_the_whole_photo_at_every_age(ager):
    photo = photo_with_face()
    result = ager.age_image(photo, AGES)
    assert len(result.faces) == 1
    assert result.photos.shape == (2, *photo.shape) and result.aged_crops.shape == (1, 2, 32, 32, 3)
    changed = np.any(result.photos[0] != photo, axis=-1)
    assert changed.any() and not changed[:20].any() and not changed[:, :40].any()  # far from the face: untouched
    assert not np.array_equal(result.photos[0], result.photos[1])  # the two ages differ
    assert set(result.timings) == {"detect_s", "align_s", "generator_s", "paste_back_s"}


def test_age_command_writes_every_output(tiny_export, face_png, tmp_path, capsys):
    assert run_age(tiny_export, [face_png], tmp_path, "--save-crops") == 0
    names = output_names(face_png.name, AGES, 1, crops=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)
    aged = np.array(Image.open(tmp_path / "face_age60.png"))
    assert aged.shape == (200, 280, 3)
    gif = Image.open(tmp_path / "face_ages.gif")
    assert gif.n_frames == 4  # 3 ages forward, 1 back (ping-pong)
    assert "[1/1]" in capsys.readouterr().err


def test_photo_without_a_face_fails_by_name_and_writes_nothing(tiny_export, face_png, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(blank)
    out = tmp_path / "out"
    assert run_age(tiny_export, [blank], out) == 1
    assert "blank.png: no face found" in capsys.readouterr().err
    assert not out.exists()
    # with a good photo beside it, the good one is written and the exit code still says failure
    assert run_age(tiny_export, [blank, face_png], out, "--no-strip") == 1
    assert sorted(path.name for path in out.iterdir()) == sorted(output_names("face.png", AGES, 1, strip=False))


def test_ager_raises_no_face_error(ager):
    with pytest.raises(NoFaceError, match="my_array: no face found"):
        ager.age_image(np.zeros((64, 64, 3), np.uint8), AGES, source="my_array")


def test_greyscale_and_transparent_photos_keep_their_kind(tiny_export, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(photo_with_face()).convert("L").save(grey)
    rgba = tmp_path / "rgba.png"
    with_alpha = np.dstack([photo_with_face(), np.full((200, 280), 200, np.uint8)])
    Image.fromarray(with_alpha, "RGBA").save(rgba)
    out = tmp_path / "out"
    assert run_age(tiny_export, [grey, rgba], out, "--gif-frames", "0", "--no-strip") == 0
    assert Image.open(out / "grey_age10.png").mode == "L"
    aged = Image.open(out / "rgba_age10.png")
    assert aged.mode == "RGBA" and np.all(np.array(aged)[..., 3] == 200)


def test_bad_inputs_are_refused_with_their_reason(tiny_export, face_png, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_age(tiny_export, [face_png], out, "--max-pixels", "1000") == 1
    assert "face.png" in capsys.readouterr().err
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    assert run_age(tiny_export, [not_image, tmp_path / "missing.png"], out) == 1
    errors = capsys.readouterr().err
    assert "notes.jpg" in errors and "missing.png" in errors
    assert not out.exists() or list(out.iterdir()) == []
    assert main(["age", str(face_png), "--model", str(tiny_export), "--ages", "150", "--out", str(out)]) == 2
    assert "0-120" in capsys.readouterr().err
    assert main(["age", str(face_png), "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "not a ragan-tf export" in capsys.readouterr().err


def test_model_card_is_read_from_the_export(tiny_export):
    assert read_model_card(tiny_export)["alignment"] == "synthetic"
