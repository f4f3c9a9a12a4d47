import pytest

from ragan_tf.config import ConfigError, load_config, save_config
from ragan_tf.data.age_groups import SCHEMES, get_scheme


def write(tmp_path, text):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides_apply_in_order(tmp_path):
    path = write(tmp_path, "data:\n  image_size: 32\ntraining:\n  batch_size: 4\n  learning_rate: 1\n")
    config = load_config(path, ["training.batch_size=16", "model.base_channels=8"])
    assert config.name == "pipeline"
    assert config.data.image_size == 32
    assert config.training.batch_size == 16
    assert config.training.learning_rate == 1.0 and isinstance(config.training.learning_rate, float)
    assert config.model.base_channels == 8


def test_scientific_notation_without_a_dot_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) reads `3e-4` as the string "3e-4"; a float field takes it as 0.0003.
    path = write(tmp_path, "training:\n  learning_rate: 3e-4\n")
    assert load_config(path).training.learning_rate == pytest.approx(3e-4)
    assert load_config(None, ["training.learning_rate=2E-5"]).training.learning_rate == pytest.approx(2e-5)
    with pytest.raises(ConfigError, match="training.learning_rate must be float"):
        load_config(None, ["training.learning_rate=fast"])
    with pytest.raises(ConfigError, match="training.batch_size must be int"):
        load_config(None, ["training.batch_size=1e3"])


def test_resolved_config_round_trips(tmp_path):
    config = load_config(None, ["data.age_groups=age_cgan", "runtime.run_dir=somewhere"])
    save_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(tmp_path / "run" / "config.yaml") == config


@pytest.mark.parametrize(
    "text, message",
    [
        ("training:\n  batch_sise: 4\n", "Unknown config key 'training.batch_sise'"),
        ("trainin:\n  batch_size: 4\n", "Unknown config key 'trainin'"),
        ("training:\n  batch_size: four\n", "training.batch_size must be int"),
        ("training:\n  batch_size: 4.5\n", "training.batch_size must be int"),
        ("training:\n  jit_compile: 1\n", "training.jit_compile must be bool"),
        ("data:\n  non_face_labels: 3\n", "data.non_face_labels must be a list"),
        ("data:\n  age_groups: decades\n", "Unknown age-group scheme 'decades'"),
        ("runtime:\n  strategy: horovod\n", "runtime.strategy must be one of"),
        ("data: 5\n", "data must be a mapping"),
    ],
)
def test_bad_configs_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(write(tmp_path, text))


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["training.batch_size"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_age_group_schemes():
    ffhq = get_scheme("ffhq_aging")
    assert ffhq.num_groups == 10
    assert ffhq.labels[0] == "0-2" and ffhq.labels[-1] == "70-120"
    assert [ffhq.group_of(age) for age in (0, 2.9, 3, 19.99, 20, 69, 70, 120)] == [0, 0, 1, 4, 5, 8, 9, 9]
    assert ffhq.group_of(121) == -1
    two = SCHEMES["two_groups"]
    assert list(two.group_of([19, 20, 30.5, 35, 40, 50, 51])) == [-1, 0, 0, -1, 1, 1, -1]
    cgan = get_scheme("age_cgan")
    assert cgan.num_groups == 6 and cgan.group_of(18.5) == 0 and cgan.group_of(60) == 5
    table = cgan.lookup_table()
    assert table.shape == (121,) and table[45] == 3
