"""`ragan-tf age` under bad input: one line naming it, no partial output, the batch goes on."""

import json

import numpy as np
import pytest
from PIL import Image

from ragan_tf.cli import main
from ragan_tf.faces import detection
from ragan_tf.faces.detection import FaceDetector
from ragan_tf.inference import age_command
from ragan_tf.inference.ager import Ager
from ragan_tf.inference.outputs import output_names, unique_name

import fake_photos

AGES = ["10", "60"]
FAST = ["--gif-frames", "0", "--no-strip"]  # one file per age: the slow GIF sweep is tested elsewhere


def photo_with_face(identity, size=96, canvas=(160, 200)):
    return fake_photos.photo_with_face(identity, size, canvas)


@pytest.fixture(scope="module")
def ager(tiny_export):
    """One loaded model for the module: `ragan-tf age` reuses it instead of loading the export per test."""
    return Ager(tiny_export)


@pytest.fixture
def reuse_ager(ager, monkeypatch):
    monkeypatch.setattr(age_command, "Ager", lambda *args, **kwargs: ager)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Two photos with a face each, in one folder: `good1.png`, `good2.png`."""
    folder = tmp_path_factory.mktemp("faces")
    for identity, name in [(11, "good1.png"), (23, "good2.png")]:
        Image.fromarray(photo_with_face(identity)).save(folder / name)
    return folder


def run_age(photos, out, model, *extra):
    return main(["age", *map(str, photos), "--model", str(model), "--ages", *AGES, "--out", str(out), *extra])


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("ragan-tf age: error: ")]


def assert_nothing_in(out):
    """Nothing partial: `out` was not made, or holds nothing (no output, no hidden staging folder)."""
    assert not out.exists() or sorted(out.iterdir()) == []


# ---------------------------------------------------------------------------
# Bad arguments: refused before any photo is read, exit 2, one line
# ---------------------------------------------------------------------------


def _missing(tmp_path, tiny_run):
    return tmp_path / "no_such_export"


def _a_file(tmp_path, tiny_run):
    (tmp_path / "model.txt").write_text("not a model")
    return tmp_path / "model.txt"


def _plain_folder(tmp_path, tiny_run):
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder"


def _run_folder(tmp_path, tiny_run):
    return tiny_run


def _card(tmp_path, text):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "signature.json").write_text(text)
    return tmp_path / "export"


def _damaged_card(tmp_path, tiny_run):
    return _card(tmp_path, '{"image_size": 3')


def _sampler_card(tmp_path, tiny_run):
    return _card(tmp_path, json.dumps({"model": {"type": "dcgan", "tasks": ["sampler"]}}))


@pytest.mark.parametrize("make_model, message", [
    (_missing, "no_such_export: no such folder; pass the folder written by `ragan-tf export"),
    (_a_file, "model.txt: is a file, not a folder"),
    (_plain_folder, "folder: not a ragan-tf export (no signature.json)"),
    (_run_folder, "a training run folder, not an export; export it first with `ragan-tf export"),
    (_damaged_card, "signature.json: not a readable model card"),
    (_sampler_card, "export: this export is a dcgan sampler: it draws new faces and cannot age a photo"),
])
def test_a_bad_model_folder_is_named(make_model, message, faces, tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_age([faces / "good1.png"], out, make_model(tmp_path, tiny_run)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ragan-tf age: error: ") and message in line
    assert_nothing_in(out)


@pytest.mark.parametrize("ages, message", [
    (["-5"], "Target ages must be within 0-120 years; got [-5]."),
    (["40", "121"], "Target ages must be within 0-120 years; got [121]."),
])
def test_target_ages_out_of_range_are_refused(ages, message, faces, tiny_export, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["age", str(faces / "good1.png"), "--model", str(tiny_export), "--ages", *ages, "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"ragan-tf age: error: {message}"]
    assert_nothing_in(out)


@pytest.mark.parametrize("ages, message", [
    ([], "argument --ages: expected at least one argument"),
    (["ten"], "argument --ages: invalid int value: 'ten'"),
])
def test_empty_or_non_numeric_ages_are_refused_by_the_parser(ages, message, faces, tiny_export, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main(["age", str(faces / "good1.png"), "--model", str(tiny_export), "--out", str(out), "--ages", *ages])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"ragan-tf age: error: {message}"
    assert_nothing_in(out)


@pytest.mark.parametrize("frames", ["-1", "1"])
def test_bad_gif_frames_are_refused(frames, faces, tiny_export, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_age([faces / "good1.png"], out, tiny_export, "--gif-frames", frames) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ragan-tf age: error: --gif-frames must be 0 (no GIF) or at least 2; got {frames}."
    ]
    assert_nothing_in(out)


@pytest.mark.parametrize("inside", [False, True])
def test_an_out_that_is_a_file_is_refused(inside, faces, tiny_export, tmp_path, capsys):
    (tmp_path / "taken.png").write_bytes(b"keep me")
    out = tmp_path / "taken.png" / "aged" if inside else tmp_path / "taken.png"
    assert run_age([faces / "good1.png"], out, tiny_export) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ragan-tf age: error: --out {out}: {tmp_path / 'taken.png'} is a file, not a folder; choose another --out."
    ]
    assert (tmp_path / "taken.png").read_bytes() == b"keep me"


def test_outputs_from_before_are_never_overwritten(faces, tiny_export, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "good2_age60.png").write_bytes(b"an earlier result")
    assert run_age([faces / "good1.png", faces / "good2.png"], out, tiny_export, *FAST) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ragan-tf age: error: {out} already holds good2_age60.png from before this command; outputs never "
        "overwrite existing files: move them away, choose another --out or pass --overwrite."
    ]
    assert sorted(path.name for path in out.iterdir()) == ["good2_age60.png"]
    assert (out / "good2_age60.png").read_bytes() == b"an earlier result"


def test_overwrite_replaces_outputs_from_before(faces, tiny_export, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "good2_age60.png").write_bytes(b"an earlier result")
    assert run_age([faces / "good2.png"], out, tiny_export, *FAST, "--overwrite") == 0
    assert (out / "good2_age60.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a new picture


def test_a_photo_whose_crop_would_overwrite_an_earlier_file_fails_alone(faces, reuse_ager, tiny_export, tmp_path,
                                                                        capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "good1_face0_aligned.png").write_bytes(b"an earlier crop")  # crop names depend on the faces found
    assert run_age([faces / "good1.png", faces / "good2.png"], out, tiny_export, *FAST, "--save-crops") == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"ragan-tf age: error: {faces / 'good1.png'}: {out} already holds good1_face0_aligned.png")
    assert (out / "good1_face0_aligned.png").read_bytes() == b"an earlier crop"
    assert sorted(path.name for path in out.iterdir() if path.name.startswith("good1")) == ["good1_face0_aligned.png"]
    assert sorted(path.name for path in out.iterdir() if path.name.startswith("good2")) == sorted(
        output_names("good2.png", AGES, 1, strip=False, gif=False, crops=True)
    )


# ---------------------------------------------------------------------------
# Bad photos: one line each naming the photo, no output for it, exit 1
# ---------------------------------------------------------------------------


def _folder(path):
    path.mkdir()


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("hello, not a photo")


def _truncated_jpeg(path):
    Image.fromarray(photo_with_face(11)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _one_pixel(path):
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(path)


def _no_face(path):
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(path)


def _sliver(path):
    """Big enough to hold a face, but shrunk for detection to 1024 x 19 px: below what detectors see."""
    Image.fromarray(np.full((48, 2600, 3), 128, np.uint8)).save(path)


@pytest.mark.parametrize("name, make, message", [
    ("missing.png", None, "no such file; check the path and its spelling."),
    ("album", _folder, "is a folder, not a photo"),
    ("empty.jpg", _empty, "not an image file PIL can read"),
    ("notes.jpg", _text, "not an image file PIL can read"),
    ("cut.jpg", _truncated_jpeg, "the file is probably truncated or corrupt"),
    ("dot.png", _one_pixel, "1x1 px is too small to hold a face (dlib's detectors find faces from 40 px)"),
    ("blank.png", _no_face, "no face found"),
    ("sliver.png", _sliver, "no face found"),
])
def test_a_bad_photo_is_named_and_leaves_nothing(name, make, message, reuse_ager, tiny_export, tmp_path, capsys):
    photo, out = tmp_path / name, tmp_path / "out"
    if make is not None:
        make(photo)
    assert run_age([photo], out, tiny_export, *FAST) == 1
    err = capsys.readouterr().err
    (line,) = error_lines(err)
    assert line.startswith(f"ragan-tf age: error: {photo}: ") and message in line
    assert f"[1/1] {photo}: failed" in err
    assert_nothing_in(out)


def test_bad_photos_do_not_stop_the_batch(faces, reuse_ager, tiny_export, tmp_path, capsys):
    dot, notes = tmp_path / "dot.png", tmp_path / "notes.jpg"
    _one_pixel(dot)
    _text(notes)
    out = tmp_path / "out"
    assert run_age([faces / "good1.png", dot, notes, faces / "good2.png"], out, tiny_export, *FAST) == 1
    captured = capsys.readouterr()
    assert [line.split(": ")[2] for line in error_lines(captured.err)] == [str(dot), str(notes)]
    expected = [name for good in ("good1.png", "good2.png") for name in output_names(good, AGES, 1, False, False)]
    assert sorted(path.name for path in out.iterdir()) == sorted(expected)
    assert "in 2 of 4 photo(s)" in captured.out and "2 failed" in captured.out


def test_same_named_photos_get_distinct_outputs(reuse_ager, tiny_export, tmp_path, capsys):
    for identity, folder in [(11, "a"), (23, "b")]:
        (tmp_path / folder).mkdir()
        Image.fromarray(photo_with_face(identity)).save(tmp_path / folder / "face.png")
    out = tmp_path / "out"
    first, second = tmp_path / "a" / "face.png", tmp_path / "b" / "face.png"
    assert run_age([first, second], out, tiny_export, *FAST) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["face_age10.png", "face_age60.png", "face-2_age10.png", "face-2_age60.png"]
    )
    first_aged, second_aged = (np.array(Image.open(out / name)) for name in ("face_age10.png", "face-2_age10.png"))
    assert not np.array_equal(first_aged, second_aged)
    captured = capsys.readouterr()
    assert f"{first}: 1 face(s), 2 files as face_*" in captured.err
    assert f"{second}: 1 face(s), 2 files as face-2_*" in captured.err
    assert f"Renamed to keep output names unique: {second} -> face-2_*" in captured.out


def test_unique_names_are_deterministic_and_case_blind():
    taken = {name.casefold() for name in output_names("Face.jpg", [10], 1)}
    assert unique_name("b/face.JPG", taken, [10], 1) == "face-2.JPG"
    taken |= {name.casefold() for name in output_names("face-2.jpg", [10], 1)}
    assert unique_name("c/face.jpg", taken, [10], 1) == "face-3.jpg"
    assert unique_name("c/face-2.jpg", taken, [10], 1) == "face-2-2.jpg"
    # a photo named like another one's crops: `p_face0.png` -> `p_face0_age10.png`, a crop name of `p.png`
    crops = {name.casefold() for name in output_names("p.png", [10], 1, crops=True)}
    assert unique_name("p_face0.png", crops, [10], 1) == "p_face0-2.png"


def test_a_failure_while_writing_leaves_nothing_of_that_photo(faces, reuse_ager, tiny_export, tmp_path, monkeypatch,
                                                               capsys):
    from ragan_tf.inference import outputs

    real_save = outputs.save_photo

    def full_disk_on_good1(image, path, **options):
        if "good1" in str(path) and "age60" in str(path):  # the second file of good1
            raise OSError(28, "No space left on device", str(path))
        return real_save(image, path, **options)

    monkeypatch.setattr(outputs, "save_photo", full_disk_on_good1)
    out = tmp_path / "out"
    assert run_age([faces / "good1.png", faces / "good2.png"], out, tiny_export, *FAST) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"ragan-tf age: error: {faces / 'good1.png'}: ") and "No space left on device" in line
    assert sorted(path.name for path in out.iterdir()) == ["good2_age10.png", "good2_age60.png"]


def test_an_internal_bug_keeps_its_traceback(faces, ager, reuse_ager, tiny_export, tmp_path, monkeypatch):
    def bug(*args):
        raise TypeError("a bug, not a bad photo")

    monkeypatch.setattr(ager, "age_photo", bug)
    with pytest.raises(TypeError, match="a bug"):
        run_age([faces / "good1.png"], tmp_path / "out", tiny_export, *FAST)


# ---------------------------------------------------------------------------
# The detector on degenerate images
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (50, 3), (8, 300), (2, 1000)])
@pytest.mark.parametrize("upsample", [0, 1, 6])
def test_slivers_have_no_face_and_never_reach_dlib(shape, upsample, monkeypatch):
    """dlib's CNN fails on these (and can corrupt the process's memory doing so): it must not see them."""

    def dlib_detector():
        raise AssertionError(f"dlib was given a {shape} image")

    monkeypatch.setattr(detection, "_cnn_detector", dlib_detector)
    monkeypatch.setattr(detection, "_hog_detector", dlib_detector)
    image = np.zeros((*shape, 3), np.uint8)
    for detector in ("cnn", "auto", "hog"):
        assert FaceDetector(detector, upsample=upsample).detect(image) == []

