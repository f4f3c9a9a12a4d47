"""Where a run's training images came from, and how their faces were cropped.

A generator only works on faces cropped the way its training images were:
the same alignment recipe (`ragan_tf.faces.alignment.SPECS`), or for a
dataset of ready-made chips ("none"), the chips as `ragan-tf prepare` used
them (its centred square, resized). The recipe travels with the model:
`ragan-tf prepare` records it in the prepared folder's `prepare.json`,
`ragan-tf train` copies it into the run folder (`data_provenance.json`,
`write_provenance`), `ragan-tf export` writes it into the model card, and
`ragan-tf age` crops photos with it.

The record (`data_provenance`):

    dataset          the reader ("synthetic", "utkface", ...)
    image_size       the side of the images as prepared (or rendered)
    alignment        the crop of the training images, as `age` must reproduce it:
                     a recipe of `ragan_tf.faces.alignment.SPECS`, or "none"
                     (the dataset's own chips, used as they are)
    prepare_alignment  what `prepare` was asked for ("none" = only resized;
                     absent for the synthetic renderer)
    mask             where the face masks came from ("parsing", "landmarks", "none")
    non_face_labels  the parsing classes outside the face mask
    source           "prepare.json of <folder>" or "synthetic renderer"

Example:

```python
write_provenance(config, run_dir)           # what `ragan-tf train` does
read_provenance(run_dir, config)["alignment"]  # "ffhq_aging"
```
"""

import json
from pathlib import Path

from ragan_tf.config import ConfigError
from ragan_tf.errors import RaganError

PROVENANCE_FILE = "data_provenance.json"

#: The recipe a dataset's raw images are already cropped with, for the datasets whose
#: crop `ragan_tf.faces.alignment` reproduces: prepared with alignment "none" (only
#: resized) they stay in that crop. FFHQ-Aging's images are cut by its authors'
#: `align_in_the_wild_image`, the "ffhq_aging" recipe; UTKFace's chips follow a crop of
#: their own, which the "utkface" recipe fitted to them reproduces to 2.7% of the side
#: (`ragan_tf.faces.alignment.UTKFACE`); CelebA's chips have no recipe (they stay "none").
SOURCE_ALIGNMENT = {"ffhq_aging": "ffhq_aging", "utkface": "utkface"}

SYNTHETIC_SOURCE = "synthetic renderer"


class ProvenanceError(RaganError, ValueError):
    """A run's `data_provenance.json` that cannot be read."""


def data_provenance(data_config):
    """The provenance record (see the module docstring) of the data `data_config` trains on.

    Args:
        data_config: a `DataConfig`: the synthetic dataset, or a folder `ragan-tf prepare` wrote.

    Raises:
        FileNotFoundError: `data.data_dir` is not a prepared folder (`read_plan`).
        ConfigError: no `data.data_dir`, or it holds another dataset than `data.dataset`.
    """
    if data_config.dataset == "synthetic":
        return {
            "dataset": "synthetic",
            "image_size": int(data_config.image_size),
            "alignment": "synthetic",
            "mask": "parsing",  # the renderer's own parsing map
            "non_face_labels": [int(label) for label in data_config.non_face_labels],
            "source": SYNTHETIC_SOURCE,
        }
    from ragan_tf.data.prepare import config_plan

    data_dir, plan = config_plan(data_config)
    prepared = plan["alignment"]
    return {
        "dataset": plan["dataset"],
        "image_size": int(plan["image_size"]),
        "alignment": SOURCE_ALIGNMENT.get(plan["dataset"], "none") if prepared == "none" else prepared,
        "prepare_alignment": prepared,
        "mask": plan["mask"],
        "non_face_labels": [int(label) for label in plan["non_face_labels"]],
        "source": f"prepare.json of {data_dir}",
    }


def write_provenance(config, run_dir):
    """Writes the provenance of `config`'s data to `run_dir/data_provenance.json` (atomically);
    returns the record."""
    from ragan_tf.training.backup import write_atomically  # imports keras

    record = data_provenance(config.data)
    text = json.dumps(record, indent=2) + "\n"
    write_atomically(Path(run_dir) / PROVENANCE_FILE, lambda temporary: Path(temporary).write_text(text))
    return record


def read_provenance(run_dir, config):
    """The provenance record of the run folder `run_dir` (trained with `config`), or None when unknown.

    A run written by `ragan-tf train` holds it (`write_provenance`). For a run
    made before that file existed it is, where it can be known: the synthetic
    dataset's recipe, or the plan of the prepared folder `config.data.data_dir`
    if that still holds one of `config.data.dataset` (a folder prepared again
    since with other settings cannot be told apart). A record of a dataset's
    chips prepared as they are (`none`) written before the dataset's crop had
    a recipe in `SOURCE_ALIGNMENT` reads with that recipe.

    Raises:
        ProvenanceError: the run's `data_provenance.json` is damaged.
    """
    path = Path(run_dir) / PROVENANCE_FILE
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            record, problem = None, str(error)
        else:
            problem = None if isinstance(record, dict) and "alignment" in record else "no alignment in it"
        if problem:
            raise ProvenanceError(f"{path}: not a readable data provenance record ({problem}); delete it to fall "
                                  "back on the prepared folder data.data_dir of the run's config, or train again.")
        if record.get("prepare_alignment") == "none" and record.get("dataset") in SOURCE_ALIGNMENT:
            # recorded before the dataset's own crop had a recipe: the images are in that crop
            record = {**record, "alignment": SOURCE_ALIGNMENT[record["dataset"]]}
        return record
    try:
        return data_provenance(config.data)
    except (FileNotFoundError, ConfigError):
        return None
