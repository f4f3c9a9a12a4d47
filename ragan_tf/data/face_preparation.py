"""One record + its pixels -> one common example (or the reason it was skipped).

The same code serves `ragan-tf prepare` and the tensorflow-datasets
builders. Faces are cut with the alignment code of the `age` command
(`ragan_tf.faces.alignment`), so training crops and the crops the
model sees at inference time match.
"""

import cv2
import numpy as np

from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS, face_mask_from_parsing
from ragan_tf.data.face_records import record_labels
from ragan_tf.faces.affine import warp_image
from ragan_tf.faces.alignment import align_face, get_spec
from ragan_tf.faces.detection import FaceDetector
from ragan_tf.faces.landmark_mask import landmark_face_mask

SKIP_REASONS = {
    "unreadable": "the image file could not be read (missing, truncated or not an image)",
    "no face": "no face was detected",
    "several faces": "more than one face was detected and the dataset does not say which one is labelled",
    "bad parsing map": "the face-parsing map is missing, unreadable or of another size than the image",
}


def _square_crop(shape):
    """(top, left, side) of the centred square of an image of this shape."""
    height, width = shape[:2]
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def resize_square(image, size, interpolation):
    """Centre-crops to a square and resizes to `size`."""
    top, left, side = _square_crop(image.shape)
    image = image[top : top + side, left : left + side]
    if side != size:
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return image


def resize_square_points(points, shape, size):
    """Points in an image of `shape` -> the same points after `resize_square(..., size)`."""
    top, left, side = _square_crop(shape)
    return (np.asarray(points, np.float64) - [left, top] + 0.5) * (size / side) - 0.5


def _box_iou(box_a, box_b):
    left, top = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    right, bottom = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    area = lambda box: max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])  # noqa: E731
    union = area(box_a) + area(box_b) - inter
    return inter / union if union > 0 else 0.0


def _landmark_box(points):
    return (*points.min(0), *points.max(0))


class FacePreparer:
    """Makes common examples from records and their decoded images.

    Args:
        image_size: side S of the output images and masks.
        alignment: "none" (centre square crop and resize: for datasets of
            aligned crops) or an alignment recipe name ("ffhq_aging", "ffhq").
        mask: "parsing" (read `record.parsing_path`), "landmarks" (dlib 68
            points; all ones with `mask_source="none"` when no face is found
            in an already aligned image) or "none" (all ones).
        non_face_labels: parsing classes outside the face mask.
        detector: dlib detector for `FaceDetector` ("auto", "hog", "cnn").
        multiple_faces: "skip" photos with several faces unless the record's
            `face_box` says which one is labelled, or "largest" to take the
            largest face.
        no_face: for aligned crops (`alignment="none"`) with landmark masks,
            where no single face is found: "keep" them with an all-ones mask
            (`mask_source="none"`) or "skip" them (counted under the reason).
            Photos that need alignment are always skipped without a face.

    Example:
        >>> preparer = FacePreparer(256, alignment="ffhq_aging", mask="landmarks")
        >>> example, reason = preparer(record, photo.rgb)
    """

    def __init__(
        self,
        image_size,
        alignment="none",
        mask="landmarks",
        non_face_labels=DEFAULT_NON_FACE_LABELS,
        detector="auto",
        multiple_faces="skip",
        no_face="keep",
    ):
        if mask not in ("parsing", "landmarks", "none"):
            raise ValueError(f"mask must be 'parsing', 'landmarks' or 'none'; got {mask!r}.")
        if multiple_faces not in ("skip", "largest"):
            raise ValueError(f"multiple_faces must be 'skip' or 'largest'; got {multiple_faces!r}.")
        if no_face not in ("keep", "skip"):
            raise ValueError(f"no_face must be 'keep' or 'skip'; got {no_face!r}.")
        if alignment != "none":
            get_spec(alignment)  # unknown names fail here, not on the first image
        self.image_size = int(image_size)
        self.alignment = alignment
        self.mask = mask
        self.non_face_labels = tuple(non_face_labels)
        self.detector_name = detector
        self.multiple_faces = multiple_faces
        self.no_face = no_face
        self._detector = None

    @property
    def needs_detector(self):
        return self.alignment != "none" or self.mask == "landmarks"

    @property
    def detector(self):
        if self._detector is None:
            self._detector = FaceDetector(self.detector_name)
        return self._detector

    def _pick_face(self, faces, record):
        """(landmarks, None) for the labelled face, or (None, skip reason)."""
        if not faces:
            return None, "no face"
        if len(faces) == 1:
            return faces[0], None
        if record.face_box is not None:
            overlaps = [_box_iou(_landmark_box(points), record.face_box) for points in faces]
            if max(overlaps) > 0.0:
                return faces[int(np.argmax(overlaps))], None
        if self.multiple_faces == "largest":
            extent = lambda points: float(np.ptp(points[:, 0]) * np.ptp(points[:, 1]))  # noqa: E731
            return max(faces, key=extent), None
        return None, "several faces"

    def _known_or_detected_face(self, rgb, record):
        if record.landmarks is not None:
            return np.asarray(record.landmarks, np.float64), None
        return self._pick_face(self.detector.detect(rgb), record)

    def _parsing_mask(self, record, shape):
        if not record.parsing_path:
            return None
        parsing = cv2.imread(record.parsing_path, cv2.IMREAD_UNCHANGED)
        if parsing is None or parsing.shape[:2] != shape[:2]:
            return None
        if parsing.ndim == 3:
            parsing = parsing[..., 0]
        return (face_mask_from_parsing(parsing, self.non_face_labels) * 255).astype(np.uint8)

    def __call__(self, record, rgb):
        """`(example, None)` or `(None, skip_reason)` for one record.

        Args:
            record: a `FaceRecord`.
            rgb: its decoded uint8 [H, W, 3] image.
        """
        size = self.image_size
        mask_source = self.mask
        face_mask = None
        if self.mask == "parsing":
            face_mask = self._parsing_mask(record, rgb.shape)
            if face_mask is None:
                return None, "bad parsing map"
        if self.alignment != "none":
            landmarks, reason = self._known_or_detected_face(rgb, record)
            if reason:
                return None, reason
            aligned = align_face(rgb, landmarks, self.alignment, size)
            image = aligned.crop
            if self.mask == "landmarks":
                face_mask = (aligned.mask * 255).round().astype(np.uint8)
            elif face_mask is not None:
                warped = warp_image(np.repeat(face_mask[..., None], 3, -1), aligned.transform, (size, size))
                face_mask = warped[..., 0]
        else:
            image = resize_square(rgb, size, cv2.INTER_AREA)
            if face_mask is not None:
                face_mask = resize_square(face_mask, size, cv2.INTER_NEAREST)
            elif self.mask == "landmarks":
                landmarks, reason = self._known_or_detected_face(rgb, record)
                if landmarks is None and self.no_face == "skip":
                    return None, reason
                if landmarks is None:
                    mask_source = "none"
                else:
                    points = resize_square_points(landmarks, rgb.shape, size)
                    face_mask = (landmark_face_mask(points, size) * 255).round().astype(np.uint8)
        if face_mask is None:
            face_mask = np.full((size, size), 255, np.uint8)
            mask_source = "none"
        example = {
            "image": np.ascontiguousarray(image, np.uint8),
            "face_mask": np.ascontiguousarray(face_mask, np.uint8)[..., None],
            "mask_source": mask_source,
            **record_labels(record),
        }
        return example, None


def load_image_files(records, manual_dir=None):
    """`(record, rgb)` per record, or `(record, PhotoError)` when its file cannot be read."""
    del manual_dir  # records carry absolute paths
    from ragan_tf.faces.photo_io import PhotoError, load_photo

    for record in records:
        try:
            yield record, load_photo(record.image_path).rgb
        except PhotoError as error:
            yield record, error


def image_loader(spec):
    """The spec's own image loader, or `load_image_files`."""
    return spec.load_images or load_image_files
