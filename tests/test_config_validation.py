"""Config validation: every field's range, cross-field checks, strict YAML, and config diffs."""

import dataclasses
import typing
from pathlib import Path

import pytest

from ragan_tf.config import (
    ABSENT,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TrainingConfig,
    architecture,
    architecture_diff,
    architecture_keys,
    config_diff,
    config_from_dict,
    config_to_dict,
    format_diff,
    load_config,
    parse_override,
    save_config,
)
from ragan_tf.models.registry import family_names, get_family

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
DCGAN = "dcgan_synthetic_tiny.yaml"
ENCODER = "encoder_cdcgan_synthetic_tiny.yaml"
VANILLA = "vanilla_gan_synthetic_tiny.yaml"


def write(tmp_path, text, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(*args):
    """The message of the `ConfigError` that `load_config(*args)` raises (one line)."""
    with pytest.raises(ConfigError) as error:
        load_config(*args)
    message = str(error.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- field ranges
#: (pipeline or None for the defaults, overrides, the key the message names, a fragment of it)
BAD_VALUES = [
    (None, ["training.learning_rate=0"], "training.learning_rate", "must be a finite number > 0, got 0.0."),
    (None, ["training.learning_rate=-1e-4"], "training.learning_rate", "got -0.0001"),
    (None, ["training.learning_rate=.nan"], "training.learning_rate", "must be a finite number > 0, got nan."),
    (None, ["training.learning_rate=.inf"], "training.learning_rate", "got inf"),
    (None, ["training.discriminator_learning_rate=0"], "training.discriminator_learning_rate",
     "must be null or a finite number > 0"),
    (None, ["training.beta_1=1"], "training.beta_1", "must be a finite number in [0, 1), got 1.0."),
    (None, ["training.beta_2=-0.1"], "training.beta_2", "in [0, 1)"),
    (None, ["training.ema_decay=2"], "training.ema_decay", "must be a finite number in [0, 1), got 2.0."),
    (None, ["training.ema_decay=1"], "training.ema_decay", "in [0, 1)"),
    (None, ["training.epochs=0"], "training.epochs", "must be an integer >= 1, got 0."),
    (None, ["training.batch_size=0"], "training.batch_size", "an integer >= 1"),
    (None, ["training.steps_per_epoch=0"], "training.steps_per_epoch", "must be null or an integer >= 1"),
    (None, ["training.validation_steps=0"], "training.validation_steps", "must be null or an integer >= 1"),
    (None, ["training.steps_per_execution=0"], "training.steps_per_execution", "an integer >= 1"),
    (None, ["training.sample_every_steps=-1"], "training.sample_every_steps", "an integer >= 0"),
    (None, ["training.evaluate_every_epochs=-1"], "training.evaluate_every_epochs", "an integer >= 0"),
    (None, ["training.evaluate_faces=0"], "training.evaluate_faces", "an integer >= 1"),
    (None, ["training.on_nan=ignore"], "training.on_nan", "must be one of stop, rollback, got 'ignore'."),
    (None, ["training.nan_lr_factor=0"], "training.nan_lr_factor", "a finite number in (0, 1]"),
    (None, ["training.nan_lr_factor=1.5"], "training.nan_lr_factor", "in (0, 1]"),
    (None, ["training.max_rollbacks=-1"], "training.max_rollbacks", "an integer >= 0"),
    (None, ["data.image_size=8"], "data.image_size", "must be an integer in [16, 1024], got 8."),
    (None, ["data.image_size=2048"], "data.image_size", "in [16, 1024]"),
    (None, ["data.shuffle_buffer=0"], "data.shuffle_buffer", "an integer >= 1"),
    (None, ["data.synthetic_identities=1"], "data.synthetic_identities", "an integer >= 2"),
    (None, ["data.synthetic_images_per_identity=0"], "data.synthetic_images_per_identity", "an integer >= 1"),
    (None, ["data.synthetic_test_fraction=0"], "data.synthetic_test_fraction", "a finite number in (0, 1)"),
    (None, ["data.synthetic_test_fraction=1"], "data.synthetic_test_fraction", "in (0, 1)"),
    (None, ["data.synthetic_seed=-1"], "data.synthetic_seed", "an integer in [0, 4294967295]"),
    (None, ["data.non_face_labels=[0, 300]"], "data.non_face_labels[1]", "an integer in [0, 255], got 300."),
    (None, ["data.image_dtype=float16"], "data.image_dtype", "must be one of float32, uint8"),
    (None, ["data.dataset=imagenet"], "data.dataset", "must be one of synthetic, ffhq_aging"),
    (None, ["data.dataset=cacd"], "data.data_dir", "set data.data_dir"),
    (None, ["data.image_size=512"], "data.image_size", "synthetic renders faces of 32 to 256 pixels"),
    (None, ["data.age_groups=decades"], "data.age_groups", "Unknown age-group scheme 'decades'"),
    (None, ["data.dataset=cacd", "data.data_dir=somewhere", "training.evaluate_every_epochs=1"],
     "training.evaluate_every_epochs", "needs the synthetic dataset"),
    (None, ["runtime.seed=-1"], "runtime.seed", "an integer in [0, 4294967295], got -1."),
    (None, ["runtime.seed=4294967296"], "runtime.seed", "in [0, 4294967295]"),
    (None, ['runtime.run_dir=""'], "runtime.run_dir", "must be a non-empty string"),
    (None, ["runtime.strategy=horovod"], "runtime.strategy", "must be one of default, mirrored, tpu, multi_worker"),
    (None, ['name=" "'], "name", "must be a non-empty string"),
    (None, ["training.batch_size=1e3"], "training.batch_size", "must be int"),
    (None, ["model.base_channels=0"], "model.base_channels", "an integer >= 1"),
    (None, ["model.age_code_dim=0"], "model.age_code_dim", "an integer >= 1"),
    (None, ["model.modulator_downsamples=0"], "model.modulator_downsamples", "an integer >= 1"),
    (None, ["model.encoder_residual_blocks=-1"], "model.encoder_residual_blocks", "an integer >= 0"),
    (None, ["model.lambda_rec=-1"], "model.lambda_rec", "a finite number >= 0"),
    (None, ["model.r1_gamma=.nan"], "model.r1_gamma", "got nan"),
    (None, ["model.lambda_rec_switch_epoch=-1"], "model.lambda_rec_switch_epoch", "an integer >= 0"),
    (None, ["model.lambda_age_cls=-0.5"], "model.lambda_age_cls", "a finite number >= 0"),
    (None, ["model.decoder_upsampling=cubic"], "model.decoder_upsampling", "must be one of nearest, bilinear"),
    (None, ["data.image_size=34"], "data.image_size", "divisible by 2**model.encoder_downsamples = 4"),
    (None, ["model.modulator_downsamples=5"], "model.modulator_downsamples", "bottleneck of at least"),
    (None, ["model.decoder_blocks=0", "model.encoder_downsamples=0"], "model.decoder_blocks",
     "no decoder block would read the age code"),
    (None, ["model.max_channels=32"], "model.max_channels", "must be at least model.base_channels (64)"),
    (None, ["model.discriminator_max_channels=8"], "model.discriminator_max_channels", "at least"),
    (None, ["data.age_groups=unconditional"], "data.age_groups", "needs at least 2 age groups"),
    (None, ["model.type=stylegan"], "model.type", "known families: ragan, encoder_cdcgan, dcgan, vanilla_gan"),
    (DCGAN, ["model.noise_dim=0"], "model.noise_dim", "an integer >= 1"),
    (DCGAN, ["model.generator_channels=2"], "model.generator_channels", "must be at least 4 at data.image_size 32"),
    (DCGAN, ["model.discriminator_activation=tanh"], "model.discriminator_activation", "one of leaky_relu, relu"),
    (DCGAN, ["data.image_size=48"], "data.image_size", "power of two"),
    (ENCODER, ["model.encoder_channels=0"], "model.encoder_channels", "an integer >= 1"),
    (ENCODER, ["model.encoder_epochs=0"], "model.encoder_epochs", "an integer >= 1"),
    (ENCODER, ["model.encoder_epochs=3"], "model.encoder_epochs", "below training.epochs (3)"),
    (VANILLA, ["model.kernel_size=0"], "model.kernel_size", "an integer >= 1"),
    (VANILLA, ["model.discriminator_units=[512, 0]"], "model.discriminator_units[1]", "an integer >= 1, got 0."),
    (VANILLA, ["data.image_size=34"], "data.image_size", "divisible by 4"),
]


@pytest.mark.parametrize("pipeline, overrides, key, fragment", BAD_VALUES,
                         ids=[" ".join(case[1]) + (f" ({case[0]})" if case[0] else "") for case in BAD_VALUES])
def test_a_bad_value_is_refused_naming_its_key(pipeline, overrides, key, fragment):
    message = config_error(pipeline and PIPELINES / pipeline, overrides)
    assert key in message and fragment in message, message


def test_validate_checks_a_config_built_in_code():
    config = load_config(None)
    for section, key, value, fragment in [
        ("training", "learning_rate", float("nan"), "training.learning_rate must be a finite number > 0"),
        ("training", "batch_size", "8", "training.batch_size must be int, got str '8'"),
        ("data", "non_face_labels", [0, -1], "data.non_face_labels[1] must be an integer in [0, 255]"),
        ("model", "max_channels", None, "model.max_channels must be int, got NoneType None"),
    ]:
        broken = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section),
                                                                             **{key: value})})
        with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace(".", r"\.")):
            broken.validate()
    with pytest.raises(ConfigError, match="data must be a config section"):
        dataclasses.replace(config, data={"image_size": 32}).validate()
    with pytest.raises(ConfigError, match="not the config of model.type 'dcgan'"):
        dataclasses.replace(config, model=dataclasses.replace(config.model, type="dcgan")).validate()


def test_config_from_dict_validates():
    values = config_to_dict(load_config(None))
    values["training"]["ema_decay"] = 2.0
    with pytest.raises(ConfigError, match=r"training\.ema_decay must be a finite number in \[0, 1\)"):
        config_from_dict(values)
    with pytest.raises(ConfigError, match="config must be a mapping"):
        config_from_dict(["data"])


def _config_classes():
    return [DataConfig, TrainingConfig, RuntimeConfig, ExperimentConfig,
            *(get_family(name).config_class for name in family_names())]


#: str fields without a `LIMITS` rule: free text, or checked by a section's `validate`.
UNLIMITED_STRINGS = {"data_dir", "tpu", "type", "dataset", "age_groups", "identity_weights"}


@pytest.mark.parametrize("config_class", _config_classes(), ids=lambda cls: cls.__name__)
def test_every_field_has_a_limit(config_class):
    hints = typing.get_type_hints(config_class)
    fields = {field.name: hints[field.name] for field in dataclasses.fields(config_class)}
    assert set(config_class.LIMITS) <= set(fields), "a LIMITS key that is not a field"
    for name, hint in fields.items():
        while typing.get_args(hint):  # Optional[int], List[int] -> int
            hint = [arg for arg in typing.get_args(hint) if arg is not type(None)][0]
        if hint in (int, float):
            assert name in config_class.LIMITS, f"{config_class.__name__}.{name} has no limit"
        elif hint is str:
            assert name in config_class.LIMITS or name in UNLIMITED_STRINGS, f"{config_class.__name__}.{name}"


def test_new_reliability_fields_and_their_defaults_round_trip(tmp_path):
    config = load_config(None)
    assert (config.runtime.deterministic, config.training.on_nan) == (False, "stop")
    assert (config.training.nan_lr_factor, config.training.max_rollbacks) == (0.5, 3)
    changed = load_config(None, ["runtime.deterministic=true", "training.on_nan=rollback",
                                 "training.nan_lr_factor=1", "training.max_rollbacks=0"])
    save_config(changed, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == changed


@pytest.mark.parametrize("pipeline", sorted(PIPELINES.glob("*.yaml")), ids=lambda path: path.name)
def test_every_pipeline_loads_and_round_trips(pipeline, tmp_path):
    config = load_config(pipeline)
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert set(architecture_keys(config)) >= {"model.type", "data.image_size"}


# ---------------------------------------------------------------------------- YAML files
@pytest.mark.parametrize("text", ["", "\n\n", "# only\n  # comments\n", "---\n"])
def test_an_empty_file_is_refused_naming_it(tmp_path, text):
    path = write(tmp_path, text, "empty.yaml")
    message = config_error(path)
    assert str(path) in message and "has no settings (it is empty or holds only comments)" in message


@pytest.mark.parametrize("text, kind", [("- data\n- model\n", "list"), ("just words\n", "str"), ("3\n", "int")])
def test_a_file_that_is_not_a_mapping_is_refused_naming_it(tmp_path, text, kind):
    path = write(tmp_path, text)
    message = config_error(path)
    assert str(path) in message and f"must hold a mapping of sections (name, data, model, training, runtime), " \
                                     f"got {kind}" in message


@pytest.mark.parametrize("text, line, key, first", [
    ("training:\n  batch_size: 4\n  epochs: 2\n  batch_size: 8\n", 4, "batch_size", 2),
    ("data:\n  image_size: 32\ntraining:\n  epochs: 2\ndata:\n  cache: false\n", 5, "data", 1),
    ("training: {batch_size: 4, batch_size: 8}\n", 1, "batch_size", 1),
])
def test_a_duplicate_key_is_refused_naming_file_line_and_key(tmp_path, text, line, key, first):
    path = write(tmp_path, text)
    message = config_error(path)
    assert str(path) in message and f"line {line}, column" in message
    assert f"duplicate key {key!r} (first set on line {first})" in message


def test_merge_keys_are_not_duplicates(tmp_path):
    config = load_config(write(tmp_path, "training:\n  <<: {batch_size: 4, epochs: 3}\n  batch_size: 16\n"))
    assert (config.training.batch_size, config.training.epochs) == (16, 3)


@pytest.mark.parametrize("text, where, problem", [
    ("data:\n  image_size: 32\n  cache: : false\n", "line 3, column 10", "mapping values are not allowed here"),
    ("training:\n  batch_size: 4\n epochs: 3\n", "line 3, column 2", "expected <block end>"),
    ("training:\n  batch_size: [4\n", "line 3", "expected ',' or ']'"),
    ("training:\n  batch_size: \x07\n", "line 2, column 15", "special characters are not allowed"),
])
def test_a_syntax_error_names_file_line_and_column(tmp_path, text, where, problem):
    path = write(tmp_path, text)
    message = config_error(path)
    assert message.startswith(f"Config file {str(path)!r}, {where}") and problem in message, message
    assert "<unicode string>" not in message


def test_a_missing_file_or_a_folder_is_refused(tmp_path):
    assert "does not exist" in config_error(tmp_path / "nope.yaml")
    assert "is not a file" in config_error(tmp_path)


def test_yaml_1_2_floats_in_files_and_overrides(tmp_path):
    for text, value in [("1e-4", 1e-4), ("1E5", 1e5), ("-2.5e+3", -2.5e3), (".5e3", 500.0), ("+3e0", 3.0)]:
        key, parsed = parse_override(f"model.lambda_rec={text}")
        assert key == "model.lambda_rec" and isinstance(parsed, float) and parsed == value
    assert parse_override("training.batch_size=10") == ("training.batch_size", 10)
    assert parse_override("name=1e") == ("name", "1e")  # not a number: stays a string
    path = write(tmp_path, "training:\n  learning_rate: 3e-4\n  beta_2: 9.99E-1\nmodel:\n  lambda_cyc: 2.5e+0\n")
    config = load_config(path, ["model.lambda_rec=1E1"])
    assert (config.training.learning_rate, config.training.beta_2) == (3e-4, 0.999)
    assert (config.model.lambda_cyc, config.model.lambda_rec) == (2.5, 10.0)


def test_a_bad_override_is_one_line():
    message = config_error(None, ["training.batch_size=[1,"])
    assert message.startswith("Override 'training.batch_size=[1,' (its value), line 1, column 4: expected")
    for text in ("training.batch_size", "=16", " =16"):
        assert "must look like section.key=value" in config_error(None, [text])


# ---------------------------------------------------------------------------- comparing configs
def tiny(*overrides, pipeline="ragan_synthetic_tiny.yaml"):
    return load_config(PIPELINES / pipeline, list(overrides))


def test_config_diff_lists_changed_keys_in_order():
    old, new = tiny(), tiny("training.epochs=5", "model.base_channels=16", "data.non_face_labels=[0]")
    assert config_diff(old, new) == [
        ("data.non_face_labels", [0, 14, 15, 16, 18], [0]),
        ("model.base_channels", 8, 16),
        ("training.epochs", 2, 5),
    ]
    assert config_diff(old, new, sections=("model", "data.image_size")) == [("model.base_channels", 8, 16)]
    assert config_diff(old, old) == [] and config_diff(config_to_dict(old), old) == []


def test_config_diff_across_families_marks_absent_keys():
    differences = dict((key, (old, new)) for key, old, new in config_diff(tiny(), tiny(pipeline=DCGAN)))
    assert differences["model.type"] == ("ragan", "dcgan")
    assert differences["model.noise_dim"] == (ABSENT, 100)
    assert differences["model.base_channels"] == (8, ABSENT)
    assert repr(ABSENT) == "(absent)"


def test_a_changed_width_is_architectural_and_a_loss_weight_is_not():
    old = tiny()
    assert architecture_diff(old, tiny("model.base_channels=16", "data.image_size=64")) == [
        ("data.image_size", 32, 64), ("model.base_channels", 8, 16)]
    assert format_diff(architecture_diff(old, tiny("model.base_channels=16", "data.image_size=64"))) == \
        "data.image_size: 32 -> 64, model.base_channels: 8 -> 16"
    for overrides in (["model.lambda_cyc=5", "model.lambda_rec=3", "training.epochs=9"],
                      ["training.learning_rate=1e-3", "model.sync_batch_norm=true", "runtime.seed=4"]):
        assert architecture_diff(old, tiny(*overrides)) == []
    assert architecture_diff(old, tiny("data.age_groups=age_cgan")) == [
        ("data.age_groups", "ffhq_aging", "age_cgan")]


def test_the_age_classifier_is_architectural_but_its_weight_is_not():
    with_classifier = tiny("model.lambda_age_cls=1")
    assert architecture_diff(tiny(), with_classifier) == [("model.lambda_age_cls > 0", False, True)]
    assert architecture_diff(with_classifier, tiny("model.lambda_age_cls=2")) == []
    assert "model.lambda_age_cls > 0" in architecture_keys(with_classifier)


def test_architecture_per_family():
    dcgan = tiny(pipeline=DCGAN)
    assert architecture_diff(dcgan, tiny("model.generator_channels=32", pipeline=DCGAN)) == [
        ("model.generator_channels", 16, 32)]
    assert architecture_diff(dcgan, tiny("data.age_groups=two_groups", pipeline=DCGAN)) == []  # unconditional
    encoder = tiny(pipeline=ENCODER)
    assert architecture_diff(encoder, tiny("data.age_groups=age_cgan", pipeline=ENCODER)) == [
        ("data.age_groups", "two_groups", "age_cgan")]
    assert architecture_diff(encoder, tiny("training.epochs=5", "model.encoder_epochs=2", pipeline=ENCODER)) == []
    vanilla = tiny(pipeline=VANILLA)
    assert architecture_diff(vanilla, tiny("model.discriminator_units=[64]", pipeline=VANILLA)) == [
        ("model.discriminator_units", [512, 256], [64])]
    assert architecture_diff(tiny(), dcgan)[0] == ("model.type", "ragan", "dcgan")
    for config in (tiny(), dcgan, encoder, vanilla):
        keys = architecture_keys(config)
        assert keys[0] == "model.type" and set(architecture(config)) == set(keys)
