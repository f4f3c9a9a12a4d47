"""tensorflow-datasets builder for the embedded synthetic aging-faces dataset.

Nothing is downloaded: `_generate_examples` calls the procedural renderer in
`ragan_tf.data.synthetic_faces`. Splits are by identity, so every test
identity is unseen in training. Each builder config fixes the resolution, the
number of identities, images per identity and the seed; its name encodes all
of them, so two configs never share a cache folder.

Example:

```python
builder = synthetic_builder(image_size=64, num_identities=600, data_dir="~/tensorflow_datasets")
builder.download_and_prepare()
train = builder.as_dataset(split="train")
```
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ragan_tf.data import synthetic_faces


@dataclasses.dataclass(eq=False)
class SyntheticFacesBuilderConfig(tfds.core.BuilderConfig):
    image_size: int = 64
    num_identities: int = 600
    images_per_identity: int = 10
    test_fraction: float = 0.1
    seed: int = 0


def synthetic_builder_config(
    image_size=64, num_identities=600, images_per_identity=10, test_fraction=0.1, seed=0
):
    """A builder config whose name encodes every generation parameter."""
    name = (
        f"size{image_size}_ids{num_identities}_per{images_per_identity}"
        f"_test{round(test_fraction * 100)}_seed{seed}"
    )
    return SyntheticFacesBuilderConfig(
        name=name,
        description=(
            f"{num_identities} synthetic identities x {images_per_identity} ages at "
            f"{image_size}x{image_size} px, seed {seed}."
        ),
        image_size=image_size,
        num_identities=num_identities,
        images_per_identity=images_per_identity,
        test_fraction=test_fraction,
        seed=seed,
    )


class SyntheticAgingFaces(tfds.core.GeneratorBasedBuilder):
    """Procedurally rendered cartoon faces with exact age, identity and parsing ground truth."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "Renderer finalised (backgrounds, clothing, drawing details); images differ from 1.0.0.",
    }
    BUILDER_CONFIGS = [synthetic_builder_config(image_size=size) for size in (32, 64, 128, 256)]

    def _info(self):
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3)),
                    "parsing": tfds.features.Image(shape=(size, size, 1)),
                    "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
                    "age": tfds.features.Scalar(dtype=np.float32),
                    "identity": tfds.features.Scalar(dtype=np.int32),
                    "gender": tfds.features.ClassLabel(names=["male", "female"]),
                }
            ),
            supervised_keys=("image", "age"),
            homepage="https://github.com/ragan-tf/ragan-tf",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        config = self.builder_config
        train_ids, test_ids = synthetic_faces.split_identities(
            config.num_identities, config.test_fraction, config.seed
        )
        return {
            "train": self._generate_examples(train_ids),
            "test": self._generate_examples(test_ids),
        }

    def _generate_examples(self, identities):
        config = self.builder_config
        for example in synthetic_faces.generate_examples(
            identities, config.images_per_identity, config.image_size, config.seed
        ):
            yield example["key"], {
                "image": example["image"],
                "parsing": example["parsing"][..., None],
                "landmarks": example["landmarks"],
                "age": np.float32(example["age"]),
                "identity": np.int32(example["identity"]),
                "gender": int(example["gender"]),
            }


def synthetic_builder(data_dir=None, **config_values):
    """A `SyntheticAgingFaces` builder for `synthetic_builder_config(**config_values)`.

    tfds refuses a config object that shares its name with a predefined
    config, so a predefined one is selected by name.
    """
    config = synthetic_builder_config(**config_values)
    predefined = {c.name for c in SyntheticAgingFaces.BUILDER_CONFIGS}
    return SyntheticAgingFaces(config=config.name if config.name in predefined else config, data_dir=data_dir)
