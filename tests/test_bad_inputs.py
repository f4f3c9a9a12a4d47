"""The bad-input corpus of `train`, `prepare`, `evaluate` and `show-dataset` (the `age`, `export`
and serving cases are in test_age_reliability.py, test_export_safety.py and
test_serving_contract.py; config values in test_config_validation.py).

Each case runs the command as a user would (`ragan_tf.cli.main`) and asserts
exit status 2, one `ragan-tf <command>: error: ...` line that says what is
wrong, no traceback, and that nothing was left behind: no run folder, no
output folder, no file.
"""

from pathlib import Path

import pytest

from ragan_tf.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "pipelines" / "ragan_synthetic_tiny.yaml")

FILES = {
    "duplicate.yaml": "training:\n  batch_size: 4\n  batch_size: 8\n",
    "comments.yaml": "# nothing but a comment\n",
    "syntax.yaml": "training: [1,\n",
    "list.yaml": "- a\n- b\n",
    "unknown.yaml": "training:\n  learning_rte: 0.1\n",
    "tabs.yaml": "training:\n\tbatch_size: 4\n",
}

TRAIN = [
    (["duplicate.yaml"], "line 3, column 3: duplicate key 'batch_size' (first set on line 2)"),
    (["comments.yaml"], "has no settings"),
    (["syntax.yaml"], "'syntax.yaml', line 2"),
    (["list.yaml"], "mapping"),
    (["unknown.yaml"], "Unknown config key 'training.learning_rte'"),
    (["tabs.yaml"], "'tabs.yaml', line 2"),
    (["missing.yaml"], "'missing.yaml' does not exist"),
    ([TINY, "--set", "training.learning_rate=-1"], "training.learning_rate must be a finite number > 0"),
    ([TINY, "--set", "training.learning_rate=.nan"], "training.learning_rate must be a finite number"),
    ([TINY, "--set", "training.ema_decay=2"], "training.ema_decay"),
    ([TINY, "--set", "training.epochs=0"], "training.epochs must be an integer >= 1, got 0"),
    ([TINY, "--set", "training.batch_size=0"], "training.batch_size"),
    ([TINY, "--set", "training.on_nan=ignore"], "training.on_nan"),
    ([TINY, "--set", "data.image_size=16"], "data.image_size is 16"),
    ([TINY, "--set", "data.age_groups=decades"], "data.age_groups"),
    ([TINY, "--set", "model.type=transformer"], "model.type"),
    ([TINY, "--set", "model.base_channels=0"], "model.base_channels"),
    ([TINY, "--set", "runtime.strategy=cluster"], "runtime.strategy"),
    ([TINY, "--set", "training.learning_rate"], "must look like section.key=value"),
    ([TINY, "--set", "training.batch_size=[1"], "training.batch_size"),
    ([TINY, "--set", "training.batch_size=1000", "--set", "training.steps_per_epoch=null"],
     "fewer than one batch of training.batch_size=1000"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "empty_raw").mkdir()
    (tmp_path / "unreadable_raw" / "UTKFace").mkdir(parents=True)  # well-named UTKFace chips that are no images
    for name in ("25_1_0_20170116190215347.jpg.chip.jpg", "34_1_3_20170119164944624.jpg.chip.jpg"):
        (tmp_path / "unreadable_raw" / "UTKFace" / name).write_text("not a JPEG")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if "tfds" not in path.parts)


def check_refused(capsys, argv, command, fragment):
    code = main(argv)
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    # TensorFlow's own log lines may come first (quieting them is a separate issue); ours is one line
    lines = [line for line in error.splitlines() if line.startswith(f"ragan-tf {command}: error: ")]
    assert len(lines) == 1 and "Traceback" not in error, error
    assert fragment in error[error.index(lines[0]):]


@pytest.mark.parametrize("args, fragment", TRAIN, ids=[" ".join(a[-1:] if a[0] == TINY else a) for a, _ in TRAIN])
def test_train_refuses_with_one_line_and_writes_nothing(workdir, capsys, tmp_path_factory, args, fragment):
    data_dir = tmp_path_factory.getbasetemp() / "bad_inputs_tfds"
    argv = ["train", *args, "--set", f"runtime.run_dir={workdir / 'run'}", "--set", f"data.data_dir={data_dir}"]
    before = snapshot(workdir)
    check_refused(capsys, argv, "train", fragment)
    assert snapshot(workdir) == before  # no run folder, no config.yaml


PREPARE = [
    (["--manual-dir", "no_such_dir", "--out", "out"], "does not exist"),
    (["--manual-dir", "empty_raw", "--out", "out"], "holds no .jpg file"),
    (["--manual-dir", "empty_raw", "--out", "out", "--option", "bogus=1"], "has no option 'bogus'"),
    (["--manual-dir", "empty_raw", "--out", "out", "--option", "test_fraction=lots"], "test_fraction"),
    (["--manual-dir", "empty_raw", "--out", "out", "--size", "-5"], "image_size must be between 16 and 1024"),
    (["--out", "out", "--mask", "none", "--workers", "1", "--manual-dir", "unreadable_raw"],
     "none of the 2 images listed in "),
]


@pytest.mark.parametrize("args, fragment", PREPARE, ids=[a[-1] for a, _ in PREPARE])
def test_prepare_refuses_with_one_line_and_writes_nothing(workdir, capsys, args, fragment):
    before = snapshot(workdir)
    check_refused(capsys, ["prepare", "utkface", *args], "prepare", fragment)
    assert snapshot(workdir) == before


OTHERS = [
    (["evaluate", "--model", "no_such_run", "--out", "out"], "no such run folder"),
    (["evaluate", "--model", "a_file", "--out", "out"], "is a file"),
    (["evaluate", "--model", "empty_raw", "--out", "out"], "no config.yaml"),
    (["evaluate", "--model", "no_such_run", "--out", "out", "--estimator-identities", "1"],
     "--estimator-identities must be at least 2"),
    (["evaluate", "--model", "no_such_run", "--out", "out", "--estimator-epochs", "0"],
     "--estimator-epochs must be at least 1, got 0"),
    (["show-dataset", "nowhere", "--out", "x.png"], "takes 'synthetic' or a folder"),
    (["show-dataset", "synthetic", "--out", "x.png", "--size", "5"], "--size must be 32 to 256 px"),
    (["show-dataset", "synthetic", "--out", "x.png", "--identities", "0"], "--identities must be at least 1"),
    (["show-dataset", "empty_raw", "--out", "x.png"], "empty_raw"),
]


@pytest.mark.parametrize("argv, fragment", OTHERS, ids=[" ".join(a[:3]) + " " + a[-1] for a, _ in OTHERS])
def test_evaluate_and_show_dataset_refuse_with_one_line_and_write_nothing(workdir, capsys, argv, fragment):
    before = snapshot(workdir)
    check_refused(capsys, argv, argv[0], fragment)
    assert snapshot(workdir) == before


def test_a_full_disk_is_one_line_naming_the_file(workdir, capsys, monkeypatch, tmp_path_factory):
    import errno

    import ragan_tf.training.train as training

    def full(config, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(training, "save_config", full)
    data_dir = tmp_path_factory.getbasetemp() / "bad_inputs_tfds"
    argv = ["train", TINY, "--set", f"runtime.run_dir={workdir / 'run'}", "--set", f"data.data_dir={data_dir}"]
    check_refused(capsys, argv, "train", f"No space left on device: {workdir / 'run' / 'config.yaml'}")
