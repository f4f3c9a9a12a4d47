"""tensorflow-datasets builders for the real datasets (manual download).

Every dataset module subclasses `ManualFaceDataset` with its `SPEC`; the
builder reads the records from `manual_dir`, prepares each face with
`FacePreparer` (the same code as `ragan-tf prepare`) and writes the common
example. Builder configs fix the resolution.

`ragan-tf prepare` is the recommended way to build large datasets: it runs in
parallel, resumes after an interruption, takes reader options and writes a
report of what it skipped. The builders (reader options at their defaults)
are for `tfds.load` users:

```python
import ragan_tf.data.utkface  # registers "utkface"
ds = tfds.load("utkface/128", split="train",
               download_and_prepare_kwargs={"download_config":
                   tfds.download.DownloadConfig(manual_dir="~/raw/UTKFace")})
```
"""

import dataclasses

import tensorflow_datasets as tfds

from ragan_tf.data.face_preparation import FacePreparer, image_loader
from ragan_tf.data.face_records import example_features

RESOLUTIONS = (64, 128, 256)


@dataclasses.dataclass(eq=False)
class FaceDatasetConfig(tfds.core.BuilderConfig):
    image_size: int = 256


def resolution_configs(resolutions=RESOLUTIONS):
    return [
        FaceDatasetConfig(name=str(size), description=f"Faces at {size}x{size} px.", image_size=size)
        for size in resolutions
    ]


class ManualFaceDataset(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base class: a dataset read from `manual_dir` into the common example.

    Subclasses set `SPEC` (a `DatasetSpec`), `VERSION` and `RELEASE_NOTES`;
    `MANUAL_DOWNLOAD_INSTRUCTIONS` is taken from `SPEC.instructions`.
    """

    SPEC = None
    BUILDER_CONFIGS = resolution_configs()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.SPEC is not None:
            cls.MANUAL_DOWNLOAD_INSTRUCTIONS = cls.SPEC.instructions

    def _info(self):
        return self.dataset_info_from_configs(
            description=f"{self.SPEC.title} in ragan-tf's common face example format.",
            features=example_features(self.builder_config.image_size, "raw"),
            homepage=self.SPEC.homepage,
            license=self.SPEC.licence,
        )

    def _split_generators(self, dl_manager):
        result = self.SPEC.read_records(str(dl_manager.manual_dir), **self.SPEC.options)
        splits = sorted({record.split for record in result.records})
        return {split: self._generate_examples(result.split(split), str(dl_manager.manual_dir)) for split in splits}

    def _generate_examples(self, records, manual_dir):
        preparer = FacePreparer(
            self.builder_config.image_size, alignment=self.SPEC.alignment, mask=self.SPEC.mask
        )
        for record, rgb in image_loader(self.SPEC)(records, manual_dir):
            if isinstance(rgb, Exception):
                continue
            example, _ = preparer(record, rgb)
            if example is not None:
                yield record.key, example
