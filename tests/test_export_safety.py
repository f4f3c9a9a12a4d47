"""`ragan-tf export` under bad input: one line naming it, the run folder untouched, no partial export.

Each refused case checks the whole test folder before and after: the run (config, model,
backups, history) is byte for byte as it was, and no `--out` or hidden staging folder is left.
"""

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ragan_tf.cli import main
from ragan_tf.export import export_saved_model, load_run


def snapshot(folder):
    """Every folder and file under `folder` (files with the hash of their bytes)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted(Path(folder).rglob("*"))
    }


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run with a backup, for a test to damage (`tmp_path/run`)."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    (copy / "backup").mkdir()
    (copy / "backup" / "epoch-000001.weights.h5").write_bytes(b"the run's last good training state")
    return copy


@pytest.fixture(scope="module")
def first_export(tiny_run, tmp_path_factory):
    """An export of the tiny run, for tests that replace or protect a previous export."""
    return export_saved_model(tiny_run, tmp_path_factory.mktemp("first") / "model", verbose=False)


@pytest.fixture
def previous(first_export, tmp_path):
    """A copy of `first_export` at `tmp_path/exports/model`."""
    copy = tmp_path / "exports" / "model"
    shutil.copytree(first_export, copy)
    return copy


def assert_refused(capsys, tmp_path, argv, message):
    """`ragan-tf export ARGV` exits 2 with one stderr line holding `message` (returned), and
    changes nothing under `tmp_path`."""
    before = snapshot(tmp_path)
    assert main(["export", *map(str, argv)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ragan-tf export: error: ") and message in line, line
    assert snapshot(tmp_path) == before
    return line


# -------------------------------------------------------------------- --out against the run
def model_elsewhere(run, tmp_path):
    """The run's model file moved to `tmp_path/models` and linked back into the run."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.move(run / "inference_model.keras", models / "inference_model.keras")
    (run / "inference_model.keras").symlink_to(models / "inference_model.keras")
    return models


@pytest.mark.parametrize("out, overwrite, message", [
    (lambda run, tmp: run, True, "is the run folder"),  # the reported bug: it deleted the run, exit 0
    (lambda run, tmp: run / "export", False, "lies inside the run folder"),
    (lambda run, tmp: tmp, True, "contains the run folder"),
    (lambda run, tmp: model_elsewhere(run, tmp) / "export", False, "lies inside the folder of the run's model"),
], ids=["the run folder", "inside the run folder", "around the run folder", "inside the model's folder"])
def test_out_may_not_be_in_or_around_the_run(out, overwrite, message, run, tmp_path, capsys):
    out = out(run, tmp_path)
    assert_refused(capsys, tmp_path, [run, "--out", out, *["--overwrite"] * overwrite],
                   f"--out {out} {message}")


# ----------------------------------------------------------------------- the run's model
def damage_weight(run, tiny_run, part, value):
    """The run's network with `value` in the first entry of its first weight named `...part`."""
    _, network = load_run(tiny_run)
    variable = next(variable for variable in network.weights if variable.path.endswith(part))
    values = variable.numpy()
    values.flat[0] = value
    variable.assign(values)
    network.save(run / "inference_model.keras")


@pytest.mark.parametrize("part, value", [("stem/kernel", np.nan), ("batch_norm/moving_variance", np.inf)],
                         ids=["NaN kernel", "infinite moving variance"])
def test_non_finite_weights_are_not_exported(part, value, run, tiny_run, previous, tmp_path, capsys):
    damage_weight(run, tiny_run, part, value)
    line = assert_refused(capsys, tmp_path, [run, "--out", previous, "--overwrite"],
                          f"{run}: the weights in inference_model.keras contain NaN or infinity (1 of ")
    assert part in line and f"the run's last good training state is in {run / 'backup'}" in line


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],
    lambda data: data[:2000] + bytes(byte ^ 0xFF for byte in data[2000:4000]) + data[4000:],
], ids=["truncated", "corrupt"])
def test_a_damaged_model_file_is_named(damage, run, previous, tmp_path, capsys):
    model = run / "inference_model.keras"
    model.write_bytes(damage(model.read_bytes()))
    assert_refused(capsys, tmp_path, [run, "--out", previous, "--overwrite"],
                   f"{model}: the model file is damaged (")


def without(name):
    """`f(run)`: the run folder, once its file `name` is deleted."""
    def make(run):
        (run / name).unlink()
        return run
    return make


@pytest.mark.parametrize("make_run, message", [
    (lambda run: run.parent / "missing", "missing: no such run folder"),
    (lambda run: run / "history.csv", "history.csv: is a file, not a run folder"),
    (without("config.yaml"), "no config.yaml; this is not a `ragan-tf train` run folder"),
    (without("inference_model.keras"), "no inference_model.keras; training writes it"),
], ids=["missing", "a file", "no config", "no model"])
def test_a_bad_run_folder_is_named(make_run, message, run, tmp_path, capsys):
    assert_refused(capsys, tmp_path, [make_run(run), "--out", tmp_path / "exports" / "model"], message)


# ---------------------------------------------------------------------------- the target
def test_out_that_is_a_file_is_refused(run, tmp_path, capsys):
    out = tmp_path / "model.txt"
    out.write_text("not an export")
    assert_refused(capsys, tmp_path, [run, "--out", out, "--overwrite"], f"--out {out} is a file, not a folder")


def test_overwrite_replaces_only_a_previous_export(run, tmp_path, capsys):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert_refused(capsys, tmp_path, [run, "--out", out, "--overwrite"],
                   f"--out {out} is not an export (no saved_model.pb); --overwrite only replaces")


def test_a_read_only_target_is_one_line(run, tmp_path, capsys, monkeypatch):
    parent = tmp_path / "exports"
    parent.mkdir()
    parent.chmod(0o555)
    if os.access(parent, os.W_OK):  # root writes anyway: fail the way the OS fails for everyone else
        def read_only(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)

        monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    try:
        assert_refused(capsys, tmp_path, [run, "--out", parent / "model"],
                       f"--out {parent / 'model'}: cannot write there (Permission denied)")
    finally:
        parent.chmod(0o755)


# -------------------------------------------------------------- interrupted and replaced
def test_an_interrupted_export_leaves_the_previous_one_whole(run, previous, tmp_path, monkeypatch):
    before = snapshot(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ragan_tf.export.saved_model.write_model_card", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(run, previous, overwrite=True, verbose=False)
    assert snapshot(tmp_path) == before


def test_a_failed_swap_puts_the_previous_export_back(run, previous, tmp_path, monkeypatch):
    before = snapshot(tmp_path)
    rename = Path.rename

    def failing_rename(self, target):
        if self.name.startswith(".model.partial-"):
            raise OSError(errno.EIO, "Input/output error", str(self))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="Input/output error"):
        export_saved_model(run, previous, overwrite=True, verbose=False)
    assert snapshot(tmp_path) == before


def test_overwrite_swaps_in_the_complete_new_export(run, previous, tmp_path, capsys):
    (previous / "left_by_the_old_export").write_text("old")
    run_files = snapshot(run)
    assert main(["export", str(run), "--out", str(previous), "--overwrite"]) == 0
    assert (previous / "saved_model.pb").is_file() and (previous / "signature.json").is_file()
    assert not (previous / "left_by_the_old_export").exists()
    assert sorted(path.name for path in previous.parent.iterdir()) == ["model"]  # no staging or old copy left
    assert snapshot(run) == run_files
