"""The registry of real datasets: what each one is, how to get it, how to read it.

Each dataset module (`ffhq_aging.py`, `utkface.py`, `cacd.py`, `imdb_wiki.py`,
`morph.py`, `celeb_a.py`, `folder.py`) defines a `SPEC` (`DatasetSpec`) and a
tensorflow-datasets builder class. `ragan-tf prepare NAME` and the training
pipeline look datasets up here by name.
"""

import dataclasses
import importlib
import typing

from ragan_tf.config import ConfigError

MODULES = {
    "ffhq_aging": "ragan_tf.data.ffhq_aging",
    "utkface": "ragan_tf.data.utkface",
    "cacd": "ragan_tf.data.cacd",
    "imdb_wiki": "ragan_tf.data.imdb_wiki",
    "morph": "ragan_tf.data.morph",
    "celeb_a": "ragan_tf.data.celeb_a",
    "folder": "ragan_tf.data.folder",
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How to obtain and read one dataset.

    Attributes:
        name: the name in configs and on the command line.
        title: human-readable name.
        read_records: `(manual_dir, **options) -> ReadResult`.
        alignment: how `prepare` crops faces by default: "none" (the images
            are already aligned face crops; only resized) or an alignment
            recipe of `ragan_tf.faces.alignment` ("ffhq_aging").
        mask: where face masks come from by default: "parsing" (the dataset
            ships parsing maps) or "landmarks" (dlib at prepare time).
        homepage: where to download it.
        licence: its licence, as its authors state it.
        instructions: which files to download and where to put them.
        options: reader options and their defaults (`--option key=value`).
        pipeline: the pipeline YAML that trains RAGAN on it.
        load_images: `(records, manual_dir) -> iterator of (record, rgb)`
            where rgb is a uint8 [H, W, 3] array or the `PhotoError` that
            prevented reading it; None loads each record's image file.
    """

    name: str
    title: str
    read_records: typing.Callable
    alignment: str
    mask: str
    homepage: str
    licence: str
    instructions: str
    options: dict = dataclasses.field(default_factory=dict)
    pipeline: str = ""
    load_images: typing.Optional[typing.Callable] = None


def get_dataset(name) -> DatasetSpec:
    """The `DatasetSpec` called `name`; a clear error naming the choices otherwise."""
    if name not in MODULES:
        raise ConfigError(f"Unknown dataset {name!r}; choose one of: {', '.join(MODULES)}.")
    return importlib.import_module(MODULES[name]).SPEC


def parse_options(spec, pairs):
    """`key=value` strings -> reader options, typed like the spec's defaults.

    Raises:
        ValueError: an unknown key (the message lists the known ones) or a
            value that does not convert.
    """
    options = dict(spec.options)
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator:
            raise ConfigError(f"--option expects key=value; got {pair!r}.")
        if key not in spec.options:
            known = ", ".join(f"{k} (default {v!r})" for k, v in spec.options.items()) or "none"
            raise ConfigError(f"{spec.name} has no option {key!r}; its options: {known}.")
        default = spec.options[key]
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)  # caught just below
                value = text.lower() in ("true", "1", "yes")
            elif default is None:
                value = text
            else:
                value = type(default)(text)
        except ValueError:
            raise ConfigError(
                f"{spec.name} option {key!r} expects a {type(default).__name__}; got {text!r}."
            ) from None
        options[key] = value
    return options
