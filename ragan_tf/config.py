"""Experiment configuration: YAML files in `pipelines/` mapped onto dataclasses.

An experiment is four sections (data, model, training, runtime). A YAML file
sets any subset of their fields; command-line overrides such as
`--set training.batch_size=16` are applied on top; unknown keys and values of
the wrong type are errors that name the offending key. The resolved config is
written next to each run's outputs (`save_config`) so a run can be repeated.

Files and override values are read with a stricter loader than PyYAML's: a
key repeated in a mapping is an error, floats follow YAML 1.2 (`1e-4` is a
float, not the string YAML 1.1 makes of it), and a syntax error names the
file, line and column. `ExperimentConfig.validate` checks every field's type
and range (each config dataclass's `LIMITS` table: finite numbers, positive
sizes, decays in [0, 1)) and then what involves several fields (a family's
downsampling against `data.image_size`). `config_diff` and `architecture`
compare two configs, e.g. to refuse resuming a run with different networks.
"""

import dataclasses
import math
import re
import typing
from pathlib import Path

import yaml

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS
from ragan_tf.data.normalization import IMAGE_DTYPES
from ragan_tf.errors import RaganError


class ConfigError(RaganError, ValueError):
    """A config file or override that cannot be applied."""


def require_age_groups(experiment, family, minimum=2):
    """A `ConfigError` unless `experiment.data.age_groups` has at least `minimum` groups (for a
    family's `validate`: age-conditioned families need two groups to move between)."""
    data = experiment.data
    if data.num_age_groups < minimum:
        raise ConfigError(f"model.type {family} needs at least {minimum} age groups; data.age_groups "
                          f"{data.age_groups!r} has {data.num_age_groups}.")


# ---------------------------------------------------------------------------- field limits
# A config dataclass's `LIMITS` table maps field names to rules (`Bounds`, `OneOf`, `NON_EMPTY`):
# objects with `allows(value)` and `describe(kind)`, `kind` being the field's scalar type.
# `ExperimentConfig.validate` applies them to every field (to a list's items one by one).
@dataclasses.dataclass(frozen=True)
class Bounds:
    """The interval a number field (or each item of a list field) must lie in; floats must be finite.

    `low` / `high` None leave that side open-ended; `low_open` / `high_open` exclude the bound.
    """

    low: typing.Optional[float] = None
    high: typing.Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value):
        return math.isfinite(value) and not (
            self.low is not None and (value <= self.low if self.low_open else value < self.low)
            or self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self, kind):
        number = "a finite number" if kind is float else "an integer"
        if self.low is not None and self.high is not None:
            return (f"{number} in {'(' if self.low_open else '['}{self.low}, "
                    f"{self.high}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{number} {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            return f"{number} {'<' if self.high_open else '<='} {self.high}"
        return number


@dataclasses.dataclass(frozen=True)
class OneOf:
    """The values a string field may take."""

    choices: tuple

    def allows(self, value):
        return value in self.choices

    def describe(self, kind):
        return f"one of {', '.join(self.choices)}"


class _NonEmpty:
    """A string field that must not be blank."""

    def allows(self, value):
        return bool(value.strip())

    def describe(self, kind):
        return "a non-empty string"


# The rules that `LIMITS` tables use most.
POSITIVE = Bounds(0, low_open=True)
NON_NEGATIVE = Bounds(0)
AT_LEAST_ONE = Bounds(1)
#: Adam's betas and EMA decays: 1 would never update (beta_2 = 1 divides by zero).
DECAY = Bounds(0, 1, high_open=True)
FRACTION = Bounds(0, 1, low_open=True, high_open=True)
#: What NumPy's and Python's seeding accept (`keras.utils.set_random_seed`).
SEED = Bounds(0, 2**32 - 1)
NON_EMPTY = _NonEmpty()
STRATEGIES = ("default", "mirrored", "tpu", "multi_worker")
NAN_POLICIES = ("stop", "rollback")
WORKER_INPUTS = ("shard", "global_batch")


def _field_kind(hint):
    """`(scalar type, optional)` of a field's type hint: `Optional[List[int]]` -> `(int, True)`."""
    optional = typing.get_origin(hint) is typing.Union
    if optional:
        hint = [t for t in typing.get_args(hint) if t is not type(None)][0]
    if typing.get_origin(hint) in (list, typing.List):
        (hint,) = typing.get_args(hint)
    return hint, optional


def _check_value(value, rule, kind, optional, key):
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_value(item, rule, kind, False, f"{key}[{index}]")
    elif value is not None and rule is not None and not rule.allows(value):
        raise ConfigError(f"{key} must be {'null or ' if optional else ''}{rule.describe(kind)}, got {value!r}.")


def _check_fields(instance, prefix):
    """Type and `LIMITS` of every field of a config dataclass, sections included; floats without
    a limit must still be finite."""
    hints = typing.get_type_hints(type(instance))
    limits = getattr(instance, "LIMITS", {})
    for field in dataclasses.fields(instance):
        key, value, hint = prefix + field.name, getattr(instance, field.name), hints[field.name]
        if dataclasses.is_dataclass(hint) or hint is typing.Any:
            if not dataclasses.is_dataclass(value) or isinstance(value, type):
                raise ConfigError(f"{key} must be a config section, got {value!r}.")
            _check_fields(value, f"{key}.")
            continue
        _coerce(value, hint, key)
        kind, optional = _field_kind(hint)
        rule = limits.get(field.name, Bounds() if kind is float else None)
        _check_value(value, rule, kind, optional, key)


# ---------------------------------------------------------------------------- the sections
@dataclasses.dataclass
class DataConfig:
    """What the model trains on.

    `dataset` names a reader: `synthetic` is embedded in the package; the
    real datasets (`ffhq_aging`, `utkface`, `cacd`, `imdb_wiki`, `morph`,
    `celeb_a`, `folder`) are read from the folder `ragan-tf prepare` wrote,
    which `data_dir` names (for `synthetic`, `data_dir` is the
    tensorflow-datasets cache folder). `image_size` is in [16, 1024] pixels
    ([32, 256] for `synthetic`). `non_face_labels` are the
    face-parsing classes outside the face mask; the default is LATS's choice
    (background, hat, earring, necklace, cloth). `balance_age_groups` draws
    every age group equally often in training. `image_dtype: uint8` hands
    batches to the model as stored bytes, converted on the accelerator
    (`ragan_tf.data.normalization`): use it when the host CPU limits
    throughput. `cache` keeps the (encoded)
    examples in memory after the first epoch: turn it off for datasets
    larger than memory. The `synthetic_*` fields only apply to the
    synthetic dataset (at least 2 identities; a test fraction in (0, 1)).
    `worker_input` says how the input pipelines of a multi-worker (or
    multi-device) strategy split the data: `shard` (default), each reads its
    own share of the files (of the examples when there are fewer files than
    pipelines), so reading scales with the workers; `global_batch`, each
    reads the one global stream and keeps its replicas' rows of every batch
    before decoding them, so the batches are the same for any number of
    workers and a run equals one process with the same global batch (each
    worker reads every record; decoding is still split).
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
    worker_input: str = "shard"

    LIMITS = {
        "image_size": Bounds(16, 1024),
        "worker_input": OneOf(WORKER_INPUTS),
        "non_face_labels": Bounds(0, 255),  # uint8 parsing maps
        "image_dtype": OneOf(IMAGE_DTYPES),
        "shuffle_buffer": AT_LEAST_ONE,
        "synthetic_identities": Bounds(2),  # one for each split
        "synthetic_images_per_identity": AT_LEAST_ONE,
        "synthetic_test_fraction": FRACTION,
        "synthetic_seed": SEED,
    }

    @property
    def num_age_groups(self):
        return get_scheme(self.age_groups).num_groups

    def validate(self, experiment):
        from ragan_tf.data.datasets import MODULES  # not at the top: datasets imports this module

        if self.dataset != "synthetic" and self.dataset not in MODULES:
            raise ConfigError(f"data.dataset must be one of synthetic, {', '.join(MODULES)}, got {self.dataset!r}.")
        try:
            get_scheme(self.age_groups)
        except ValueError as error:
            raise ConfigError(f"data.age_groups: {error}") from None
        if self.dataset == "synthetic":
            from ragan_tf.data.synthetic_faces import MAX_SIZE, MIN_SIZE  # imports OpenCV

            if not MIN_SIZE <= self.image_size <= MAX_SIZE:
                raise ConfigError(f"data.dataset synthetic renders faces of {MIN_SIZE} to {MAX_SIZE} pixels; "
                                  f"data.image_size is {self.image_size}.")
        elif not self.data_dir:
            raise ConfigError(f"data.dataset is {self.dataset!r}: set data.data_dir to the folder that "
                              f"`ragan-tf prepare {self.dataset} --manual-dir RAW --out DIR` wrote.")


@dataclasses.dataclass
class TrainingConfig:
    """Optimisation shared by every family; defaults follow RAGAN's paper (Adam 1e-4, betas
    0/0.99, batch 8, 30 epochs). A family's loss weights live in its `model` section.

    `steps_per_epoch` (None = one pass over the training examples) and
    `validation_steps` (None = the whole test split) are batches.
    `discriminator_learning_rate` (None = `learning_rate`) gives the
    discriminator its own rate (two time-scale updates). Rates are > 0;
    betas and `ema_decay` are in [0, 1). `ema_decay` is the
    decay of the generator average that is sampled, evaluated and exported
    (0 = the generator's current weights). `sample_every_steps` is the
    TensorBoard image interval (0 = never). `evaluate_every_epochs` > 0 adds
    the evaluation callback (synthetic data: face error against the exact
    ground truth, background PSNR/SSIM, reconstruction, on `evaluate_faces`
    test faces) to TensorBoard under `eval/`.

    `on_nan` is what a non-finite loss or weight does: `stop` ends the run
    with an error (`TrainingDiverged`); `rollback` restores the last good
    backup, multiplies the learning rates by `nan_lr_factor` (in (0, 1];
    1.0 = just skip the bad batches) and goes on, at most `max_rollbacks`
    times before it stops.
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
    on_nan: str = "stop"
    nan_lr_factor: float = 0.5
    max_rollbacks: int = 3

    LIMITS = {
        "batch_size": AT_LEAST_ONE,
        "epochs": AT_LEAST_ONE,
        "steps_per_epoch": AT_LEAST_ONE,
        "validation_steps": AT_LEAST_ONE,
        "learning_rate": POSITIVE,
        "discriminator_learning_rate": POSITIVE,
        "beta_1": DECAY,
        "beta_2": DECAY,
        "ema_decay": DECAY,
        "steps_per_execution": AT_LEAST_ONE,
        "sample_every_steps": NON_NEGATIVE,
        "evaluate_every_epochs": NON_NEGATIVE,
        "evaluate_faces": AT_LEAST_ONE,
        "on_nan": OneOf(NAN_POLICIES),
        "nan_lr_factor": Bounds(0, 1, low_open=True),
        "max_rollbacks": NON_NEGATIVE,
    }

    def validate(self, experiment):
        if self.evaluate_every_epochs and experiment.data.dataset != "synthetic":
            raise ConfigError("training.evaluate_every_epochs needs the synthetic dataset (exact ground truth); "
                              "set it to 0.")


@dataclasses.dataclass
class RuntimeConfig:
    """Where and how a run executes.

    `strategy`: `default` (one device), `mirrored` (all local GPUs), `tpu`
    (`TPUClusterResolver(tpu)`), `multi_worker` (from the `TF_CONFIG`
    environment variable). `seed` is in [0, 2**32 - 1]. `deterministic`
    turns on TensorFlow's op determinism, so that a run and its resumptions
    are bit-identical; it costs speed.
    """

    strategy: str = "default"
    tpu: str = ""
    run_dir: str = "checkpoints/run"
    seed: int = 0
    deterministic: bool = False

    LIMITS = {"strategy": OneOf(STRATEGIES), "run_dir": NON_EMPTY, "seed": SEED}


@dataclasses.dataclass
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    #: The family's own config dataclass (`model.type` picks it; see `ragan_tf.models.registry`).
    model: typing.Any = dataclasses.field(default_factory=lambda: model_config_class("ragan")())
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    LIMITS = {"name": NON_EMPTY}

    def validate(self):
        """Every field's type and `LIMITS`, then each section's `validate(experiment)`: the checks
        that involve several fields. Returns the config; raises `ConfigError` naming the key."""
        _check_fields(self, "")
        if type(self.model) is not model_config_class(self.model.type):
            raise ConfigError(f"model is a {type(self.model).__name__}, not the config of "
                              f"model.type {self.model.type!r}.")
        for section in (self.data, self.training, self.runtime, self.model):
            if hasattr(section, "validate"):
                section.validate(self)
        return self


# ---------------------------------------------------------------------------- reading YAML
class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter: a key repeated in a mapping is an error (PyYAML keeps the
    last value), and floats follow YAML 1.2 (`1e-4`, `1E5`; YAML 1.1 needs a dot)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._checked_mappings = set()

    def flatten_mapping(self, node):
        # Runs on every mapping before its merge keys (`<<`) are expanded into it, so the keys
        # checked are the ones written; a mapping that is merged elsewhere is checked once.
        if id(node) not in self._checked_mappings:
            self._checked_mappings.add(id(node))
            self._check_unique_keys(node)
        super().flatten_mapping(node)

    def _check_unique_keys(self, node):
        first_lines = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in first_lines
            except TypeError:  # an unhashable key: the mapping constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first set on line {first_lines[key]})", key_node.start_mark
                )
            first_lines[key] = key_node.start_mark.line + 1


# YAML 1.2 floats that YAML 1.1 reads as strings: an exponent without a dot (`1e-4`, `1E5`, `.5e3`).
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _parse_yaml(text, source):
    """`text` read with `_Loader`; an error is a one-line `ConfigError` starting with `source`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context).split())
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}{where}: {problem}.") from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow; it has an offset, not a mark
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        raise ConfigError(f"{source}, line {line}, column {column}: {error.reason} "
                          f"(#x{error.character:04x}).") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: {' '.join(str(error).split())}") from None


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
        return float(value)  # dicts from elsewhere (a model card read by PyYAML 1.1) may hold "3e-4"
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
    key, equals, raw = text.partition("=")
    if not equals or not key.strip():
        raise ConfigError(f"Override {text!r} must look like section.key=value.")
    return key.strip(), _parse_yaml(raw, f"Override {text!r} (its value)")


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
    model, training = values.get("model", {}), values.get("training", {})
    if not isinstance(model, dict) or not isinstance(training, dict) or "type" in model or "name" not in model:
        return values
    model, training = dict(model), dict(training)
    model["type"] = model.pop("name")
    for key in _LEGACY_RAGAN_TRAINING_KEYS:
        if key in training:
            model[key] = training.pop(key)
    return {**values, "model": model, "training": training}


def read_config_file(path):
    """The dict a pipeline YAML holds; a `ConfigError` naming the file for a missing or empty
    file, a syntax error or duplicate key (with its line and column), or a top level that is
    not a mapping."""
    path = Path(path)
    source = f"Config file {str(path)!r}"
    if not path.is_file():
        raise ConfigError(f"{source} {'is not a file' if path.exists() else 'does not exist'}.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{source} is not UTF-8 text (byte {error.start}).") from None
    values = _parse_yaml(text, source)
    if values is None:
        raise ConfigError(f"{source} has no settings (it is empty or holds only comments).")
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must hold a mapping of sections (name, data, model, training, "
                          f"runtime), got {type(values).__name__} {values!r}.")
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
        values = migrate_legacy(read_config_file(path))
        _apply(config, values, "")
        if "name" not in values:
            config.name = Path(path).stem
    for override in overrides:
        _apply(config, _nest(*parse_override(override)), "")
    return config.validate()


def config_from_dict(values):
    """An `ExperimentConfig` from a nested dict (e.g. the one an export's model card records)."""
    if not isinstance(values, dict):
        raise ConfigError(f"config must be a mapping, got {values!r}.")
    config = ExperimentConfig()
    _apply(config, migrate_legacy(values), "")
    return config.validate()


def config_to_dict(config):
    return dataclasses.asdict(config)


def save_config(config, path):
    """Writes the resolved config as YAML (loadable again with `load_config`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


# ---------------------------------------------------------------------------- comparing configs
class _Absent:
    def __repr__(self):
        return "(absent)"


#: The value `config_diff` reports for a key that only the other config has (another family's field).
ABSENT = _Absent()


def flatten_config(config):
    """`{dotted key: value}` of an `ExperimentConfig` or of a nested dict (`config_to_dict`'s);
    lists are values, not sections."""
    values = config_to_dict(config) if dataclasses.is_dataclass(config) else config
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": item for inner, item in flatten_config(value).items()})
        else:
            flat[key] = value
    return flat


def config_diff(old, new, sections=None):
    """The keys whose values differ between two configs.

    Args:
        old, new: `ExperimentConfig`s or nested dicts (or flat `{dotted key: value}` dicts such
            as `architecture`'s).
        sections: dotted prefixes to compare: sections (`"data"`), keys
            (`"model.base_channels"`); None compares every key.

    Returns:
        `[(key, old_value, new_value)]`, in `new`'s key order, then the keys only `old` has;
        a key one side lacks has the value `ABSENT` there.
    """
    old, new = flatten_config(old), flatten_config(new)
    keys = list(new) + [key for key in old if key not in new]
    if sections is not None:
        keys = [key for key in keys if any(key == prefix or key.startswith(f"{prefix}.") for prefix in sections)]
    differences = [(key, old.get(key, ABSENT), new.get(key, ABSENT)) for key in keys]
    return [(key, before, after) for key, before, after in differences if before is not after and before != after]


def architecture(config):
    """What fixes the networks of `config`: their layers, the shapes of their weights and what
    the layers compute, but not how they are trained (loss weights, optimisation).

    `model.type` and the family config's `ARCHITECTURE_FIELDS`: dotted keys, or
    `(label, f(config))` pairs for derived values (RAGAN's age classifier exists when
    `model.lambda_age_cls > 0`, whatever its weight). A run resumed with a different
    architecture would not restore.

    Returns:
        `{key or label: value}`, a flat dict `config_diff` compares.
    """
    values = flatten_config(config)
    result = {"model.type": config.model.type}
    for entry in type(config.model).ARCHITECTURE_FIELDS:
        label, value = (entry, values[entry]) if isinstance(entry, str) else (entry[0], entry[1](config))
        result[label] = value
    return result


def architecture_keys(config):
    """The keys (and derived labels) of `architecture(config)`, `model.type` first."""
    return tuple(architecture(config))


def architecture_diff(old, new):
    """`config_diff` of the architectures of two `ExperimentConfig`s: empty when a run of `old`
    can be resumed as `new`."""
    return config_diff(architecture(old), architecture(new))


def format_diff(differences):
    """`config_diff`'s list as one line: `model.base_channels: 32 -> 64, data.image_size: 64 -> 128`."""
    return ", ".join(f"{key}: {before!r} -> {after!r}" for key, before, after in differences)
