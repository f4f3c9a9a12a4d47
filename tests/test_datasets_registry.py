"""Every registered dataset: a spec that explains itself and a pipeline YAML that trains on it."""

from pathlib import Path

import pytest

from ragan_tf.config import load_config
from ragan_tf.data.datasets import MODULES, get_dataset, parse_options

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_spec_is_complete(name):
    spec = get_dataset(name)
    assert spec.name == name
    assert spec.alignment in ("none", "ffhq_aging") and spec.mask in ("parsing", "landmarks")
    assert spec.instructions.strip() and spec.licence
    if name != "celeb_a":  # CelebA trains the unconditional baselines (no RAGAN pipeline)
        config = load_config(REPO / spec.pipeline)  # a path in the repository, wherever pytest runs
        assert config.data.dataset == name and config.data.data_dir


def test_options_are_typed_and_checked():
    spec = get_dataset("imdb_wiki")
    options = parse_options(spec, ["subset=wiki", "clean=false", "min_face_score=2.5"])
    assert options["subset"] == "wiki" and options["clean"] is False and options["min_face_score"] == 2.5
    with pytest.raises(ValueError, match="expects a float"):
        parse_options(spec, ["min_face_score=high"])
    with pytest.raises(ValueError, match="expects a bool"):
        parse_options(spec, ["clean=maybe"])
    with pytest.raises(ValueError, match="key=value"):
        parse_options(spec, ["subset"])
    with pytest.raises(ValueError, match="Unknown dataset 'lfw'"):
        get_dataset("lfw")
