"""Experiment configuration: YAML files in `pipelines/` mapped onto dataclasses.

An experiment is four sections (data, model, training, runtime). A YAML file
sets any subset of their fields; command-line overrides such as
`--set training.batch_size=16` are applied on top; unknown keys and values of
the wrong type are errors that name the offending key. The resolved config is
written next to each run's outputs (`save_config`) so a run can be repeated.
"""

import dataclasses
import re
import typing
from pathlib import Path

import yaml

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS
from ragan_tf.data.normalization import IMAGE_DTYPES


class ConfigError(ValueError):
    """A config file or override that cannot be applied."""


@dataclasses.dataclass
class DataConfig:
    """What the model trains on.

    `dataset` names a reader: `synthetic` is embedded in the package; the
    real datasets (`ffhq_aging`, `utkface`, `cacd`, `imdb_wiki`, `morph`,
    `celeb_a`, `folder`) are read from the folder `ragan-tf prepare` wrote,
    which `data_dir` names (for `synthetic`, `data_dir` is the
    tensorflow-datasets cache folder). `non_face_labels` are the
    face-parsing classes outside the face mask; the default is LATS's choice
    (background, hat, earring, necklace, cloth). `balance_age_groups` draws
    every age group equally often in training. `image_dtype: uint8` hands
    batches to the model as stored bytes, converted on the accelerator
    (`ragan_tf.data.normalization`): use it when the host CPU limits
    throughput. `cache` keeps the (encoded)
    examples in memory after the first epoch: turn it off for datasets
    larger than memory. The `synthetic_*` fields only apply to the
    synthetic dataset.
    """

    dataset: str = "synthetic"
    data_dir: typing.Optional[str] = None
    image_size: int = 64
    age_groups: str = "ffhq_aging"
    non_face_labels: typing.List[int] = dataclasses.field(default_factory=lambda: list(DEFAULT_NON_FACE_LABELS))
    random_flip: bool = True
    balance_age_groups: bool = False
    image_dtype: str = "float32"
    shuffle_buffer: int = 2048
    cache: bool = True
    synthetic_identities: int = 600
    synthetic_images_per_identity: int = 10
    synthetic_test_fraction: float = 0.1
    synthetic_seed: int = 0

    @property
    def num_age_groups(self):
        return get_scheme(self.age_groups).num_groups


@dataclasses.dataclass
class TrainingConfig:
    """Optimisation shared by every family; defaults follow RAGAN's paper (Adam 1e-4, betas
    0/0.99, batch 8, 30 epochs). A family's loss weights live in its `model` section.

    `discriminator_learning_rate` (None = `learning_rate`) gives the
    discriminator its own rate (two time-scale updates). `ema_decay` is the
    decay of the generator average that is sampled, evaluated and exported
    (0 = the generator's current weights). `evaluate_every_epochs` > 0 adds
    the evaluation callback (synthetic data: face error against the exact
    ground truth, background PSNR/SSIM, reconstruction, on `evaluate_faces`
    test faces) to TensorBoard under `eval/`.
    """

    batch_size: int = 8
    epochs: int = 30
    steps_per_epoch: typing.Optional[int] = None
    validation_steps: typing.Optional[int] = 4
    learning_rate: float = 1e-4
    discriminator_learning_rate: typing.Optional[float] = None
    beta_1: float = 0.0
    beta_2: float = 0.99
    ema_decay: float = 0.999
    jit_compile: bool = False
    steps_per_execution: int = 1
    mixed_precision: bool = False
    sample_every_steps: int = 500
    evaluate_every_epochs: int = 0
    evaluate_faces: int = 32


@dataclasses.dataclass
class RuntimeConfig:
    """Where and how a run executes.

    `strategy`: `default` (one device), `mirrored` (all local GPUs), `tpu`
    (`TPUClusterResolver(tpu)`), `multi_worker` (from the `TF_CONFIG`
    environment variable).
    """

    strategy: str = "default"
    tpu: str = ""
    run_dir: str = "checkpoints/run"
    seed: int = 0


@dataclasses.dataclass
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    #: The family's own config dataclass (`model.type` picks it; see `ragan_tf.models.registry`).
    model: typing.Any = dataclasses.field(default_factory=lambda: model_config_class("ragan")())
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self):
        """Cross-field checks that a single field's type cannot express."""
        get_scheme(self.data.age_groups)
        if not 16 <= self.data.image_size <= 1024:
            raise ConfigError(f"data.image_size must be in [16, 1024], got {self.data.image_size}.")
        if self.data.image_dtype not in IMAGE_DTYPES:
            raise ConfigError(f"data.image_dtype must be one of {IMAGE_DTYPES}, got {self.data.image_dtype!r}.")
        if self.training.batch_size < 1:
            raise ConfigError(f"training.batch_size must be positive, got {self.training.batch_size}.")
        if not 0.0 <= self.training.ema_decay <= 1.0:
            raise ConfigError(f"training.ema_decay must be in [0, 1], got {self.training.ema_decay}.")
        if hasattr(self.model, "validate"):
            self.model.validate(self)
        if self.runtime.strategy not in STRATEGIES:
            raise ConfigError(
                f"runtime.strategy must be one of {STRATEGIES}, got {self.runtime.strategy!r}."
            )
        return self


STRATEGIES = ("default", "mirrored", "tpu", "multi_worker")


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce(value, field_type, key):
    """Checks `value` against a field's type hint; ints are accepted for floats."""
    origin = typing.get_origin(field_type)
    if origin is typing.Union:
        inner = [t for t in typing.get_args(field_type) if t is not type(None)][0]
        return None if value is None else _coerce(value, inner, key)
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}.")
        (item_type,) = typing.get_args(field_type)
        return [_coerce(item, item_type, f"{key}[{i}]") for i, item in enumerate(value)]
    if field_type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if field_type is float and isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads `3e-4` (no dot) as a string
    if field_type is int and isinstance(value, bool):
        raise ConfigError(f"{key} must be int, got {value!r}.")
    if not isinstance(value, field_type):
        raise ConfigError(
            f"{key} must be {field_type.__name__}, got {type(value).__name__} {value!r}."
        )
    return value


def model_config_class(model_type):
    """The config dataclass of the family `model_type` (imports the family)."""
    from ragan_tf.models.registry import get_family

    return get_family(model_type).config_class


def _apply_model(experiment, values):
    """The `model` section: `type` picks the family's dataclass; changing the type (e.g. with
    `--set model.type=dcgan`) starts from that family's defaults."""
    if not isinstance(values, dict):
        raise ConfigError(f"model must be a mapping, got {values!r}.")
    values = dict(values)
    model_type = values.pop("type", experiment.model.type)
    if not isinstance(model_type, str):
        raise ConfigError(f"model.type must be a family name, got {model_type!r}.")
    if model_type != experiment.model.type:
        experiment.model = model_config_class(model_type)()
    _apply(experiment.model, values, "model", skip=("type",))


def _apply(instance, values, prefix, skip=()):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {values!r}.")
    fields = {f.name: f for f in dataclasses.fields(instance) if f.name not in skip}
    hints = typing.get_type_hints(type(instance))
    for key, value in values.items():
        full_key = f"{prefix}.{key}" if prefix else key
        if instance.__class__ is ExperimentConfig and key == "model":
            _apply_model(instance, value)
            continue
        if key not in fields:
            family = f" of model.type {instance.type!r}" if prefix == "model" else ""
            raise ConfigError(
                f"Unknown config key {full_key!r}{family}; valid keys here: {sorted(fields)}."
            )
        if dataclasses.is_dataclass(hints[key]):
            _apply(getattr(instance, key), value, full_key)
        else:
            setattr(instance, key, _coerce(value, hints[key], full_key))


def parse_override(text):
    """`'training.batch_size=16'` -> `('training.batch_size', 16)` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} must look like section.key=value.")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def _nest(key, value):
    nested = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


#: Keys that configs written before the model families (ragan-tf 0.1) kept in `training`;
#: they are RAGAN's loss weights and live in its `model` section now.
_LEGACY_RAGAN_TRAINING_KEYS = ("lambda_adv", "lambda_rec", "lambda_rec_late", "lambda_rec_switch_epoch",
                               "lambda_cyc", "r1_gamma")


def migrate_legacy(values):
    """A 0.1 config dict (`model.name`, RAGAN loss weights under `training`) in today's layout;
    other dicts are returned unchanged."""
    model = dict(values.get("model") or {})
    if not isinstance(values.get("model", {}), dict) or "type" in model or "name" not in model:
        return values
    values = dict(values)
    training = dict(values.get("training") or {})
    model["type"] = model.pop("name")
    for key in _LEGACY_RAGAN_TRAINING_KEYS:
        if key in training:
            model[key] = training.pop(key)
    values["model"], values["training"] = model, training
    return values


def load_config(path=None, overrides=()):
    """Reads a pipeline YAML (or the defaults when `path` is None) and applies overrides.

    Args:
        path: a YAML file, or None.
        overrides: strings `section.key=value`.

    Returns:
        A validated `ExperimentConfig`.
    """
    config = ExperimentConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file {str(path)!r} does not exist.")
        values = yaml.safe_load(path.read_text()) or {}
        if isinstance(values, dict):
            values = migrate_legacy(values)
        _apply(config, values, "")
        if "name" not in values:
            config.name = path.stem
    for override in overrides:
        _apply(config, _nest(*parse_override(override)), "")
    return config.validate()


def config_from_dict(values):
    """An `ExperimentConfig` from a nested dict (e.g. the one an export's model card records)."""
    config = ExperimentConfig()
    _apply(config, migrate_legacy(values), "")
    return config.validate()


def config_to_dict(config):
    return dataclasses.asdict(config)


def save_config(config, path):
    """Writes the resolved config as YAML (loadable again with `load_config`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
