"""Finding faces and their 68 landmarks in photos with dlib.

`FaceDetector` runs dlib's HOG detector with the MMOD CNN as fallback (when
HOG finds nothing) and as confirmation (of weak HOG hits), on a copy of the
photo shrunk for detection, then dlib's 68-point shape predictor at full
resolution. dlib and its models (`face_recognition_models`, the `faces` extra)
are imported when a `FaceDetector` is made (without them: a one-line
`MissingExtraError` naming the extra) and loaded on first use, once per
process. Images narrower or lower than the smallest face the detectors find
have no face, and the detectors never see them: dlib's CNN fails on slivers a
few pixels wide, and that failure can corrupt the process's memory (later
crashes), so it is prevented, not caught.

Example:
    >>> faces = FaceDetector().detect(photo.rgb)   # [68, 2] landmarks per face, left to right
"""

import collections
import functools
import hashlib

import cv2
import numpy as np

from ragan_tf.errors import require_extra
from ragan_tf.faces.photo_io import detection_image

DETECTORS = ("auto", "hog", "cnn")
# dlib's HOG detector scans 80 x 80 px windows, its MMOD CNN finds faces from about
# 80 px too: with the image doubled `upsample` times, the smallest face found is
# DETECTOR_WINDOW / 2 ** upsample px (40 px at the default upsample=1).
DETECTOR_WINDOW = 80
# dlib's CNN fails on images up to 8 px wide without upsampling (up to 3 px with it);
# images it is given are at least this wide, whatever `upsample`.
_CNN_MIN_SIDE = 16
# HOG detections scoring below this are confirmed by the CNN in "auto" mode: on
# skimage's astronaut HOG (upsample 1) also fires at 0.12 on the suit's patch, while
# true cartoon faces can score as low as 0.01.
HOG_CONFIRM_BELOW = 0.5
# dlib's 68-point shape predictor was trained on HOG boxes; the MMOD CNN boxes a face
# smaller and higher. CNN boxes are mapped to where HOG would box the face:
# (dx, dy, sx, sy) = centre shift over the CNN box's width / height, and size ratios.
# Medians over real faces both detectors find (benchmarks/cnn_box_calibration.py).
# Fitted on 193 UTKFace chips both find (HOG's centre 6% of the CNN box right and 7% lower,
# its box 0.91x); on 192 held-out faces the worst of the 68 keypoints against those in the
# HOG box: median 0.041 of the inter-ocular distance (raw CNN box: 0.050; HOG's own landmarks
# move by 0.051 when their box is jittered by a refit), over 0.05 for 41% of faces (raw: 51%).
CNN_TO_HOG = (0.0614, 0.0731, 0.9123, 0.9123)
_BOX_CACHE = collections.OrderedDict()
_BOX_CACHE_SIZE = 512
_CONFIRM_FACE_SIDE = 120  # px: the CNN sees a doubtful face at this size
_CONFIRM_MIN_IOU = 0.3


def require_dlib(purpose="Face detection", otherwise=""):
    """`(dlib, face_recognition_models)`, imported; without them (the `faces` extra), a
    `MissingExtraError` naming `purpose` and the extra (`ragan_tf.errors.require_extra`)."""
    return require_extra("faces", purpose, "dlib", "face_recognition_models", otherwise=otherwise)


@functools.cache
def _hog_detector():
    dlib, _ = require_dlib()
    return dlib.get_frontal_face_detector()


@functools.cache
def _cnn_detector():
    dlib, models = require_dlib()
    return dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())


@functools.cache
def _shape_predictor():
    dlib, models = require_dlib()
    return dlib.shape_predictor(models.pose_predictor_model_location())


def _box(rectangle):
    return np.array([rectangle.left(), rectangle.top(), rectangle.right(), rectangle.bottom()], np.float64)


def hog_like_box(box, mapping=CNN_TO_HOG):
    """A CNN face box (left, top, right, bottom; inclusive pixels) moved and scaled to where
    dlib's HOG detector boxes the same face (`CNN_TO_HOG`), the box the 68-point model expects."""
    box = np.asarray(box, np.float64)
    dx, dy, sx, sy = mapping
    size = box[2:] - box[:2] + 1
    centre = (box[:2] + box[2:]) / 2 + np.array([dx, dy]) * size
    half = np.array([sx, sy]) * size / 2
    return np.concatenate([centre - half + 0.5, centre + half - 0.5])


def _iou(box_a, box_b):
    """Intersection over union of two (left, top, right, bottom) inclusive pixel boxes."""
    overlap = np.clip(np.minimum(box_a[2:], box_b[2:]) - np.maximum(box_a[:2], box_b[:2]) + 1, 0, None)
    area = lambda box: np.prod(box[2:] - box[:2] + 1)  # noqa: E731
    intersection = np.prod(overlap)
    return float(intersection / (area(box_a) + area(box_b) - intersection))


def _check_rgb(rgb):
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image; got {rgb.dtype} {rgb.shape}.")
    return np.ascontiguousarray(rgb)


class FaceDetector:
    """dlib face detection plus 68 landmarks, robust to huge photos.

    Detection runs on a copy shrunk to `max_detection_side` (`detection_image`);
    the 68-point shape predictor then runs on the full-resolution photo in the
    box mapped back. dlib models load on first use, once per process.

    Args:
        detector: "hog" (fast frontal HOG + SVM), "cnn" (dlib's MMOD CNN: finds
            more faces, seconds per image on a CPU) or "auto": HOG, with any
            detection scoring below `HOG_CONFIRM_BELOW` kept only if the CNN
            also finds a face there, and the CNN on the whole image when HOG
            finds nothing (HOG misses some small cartoon children's faces).
        upsample: times the image is doubled before detecting, to find small
            faces (for the CNN, only while the doubled image stays within
            `max_detection_side`: it is slow).
        max_detection_side: longest side of the image detectors see.

    Attributes:
        min_face_side: the smallest face side (px) the detectors find,
            `DETECTOR_WINDOW / 2 ** upsample` (at least 16); images narrower
            or lower than this have no face and are not searched.

    Example:
        >>> faces = FaceDetector().detect(photo.rgb)
        >>> [points.shape for points in faces]
        [(68, 2)]
    """

    def __init__(self, detector="auto", upsample=1, max_detection_side=1024):
        if detector not in DETECTORS:
            raise ValueError(f"unknown face detector {detector!r}; choose one of: {', '.join(DETECTORS)}.")
        require_dlib()  # a missing `faces` extra is reported here, before any photo is read
        self.detector = detector
        self.upsample = int(upsample)
        self.max_detection_side = int(max_detection_side)
        self.min_face_side = max(DETECTOR_WINDOW / 2**self.upsample, _CNN_MIN_SIDE)

    def detect(self, rgb) -> list[np.ndarray]:
        """68 landmarks per face found in `rgb`.

        Args:
            rgb: uint8 [H, W, 3].

        Returns:
            A list of float64 [68, 2] (x, y) arrays in `rgb`'s coordinates,
            sorted left to right by face centre; empty when there is no face.
        """
        rgb = _check_rgb(rgb)
        small, scale = detection_image(rgb, self.max_detection_side)
        faces = [self._landmarks(rgb, (box + 0.5) / scale - 0.5) for box in self.boxes(small)]
        return sorted(faces, key=lambda points: float(points[:, 0].mean()))

    def boxes(self, rgb) -> list[np.ndarray]:
        """Face boxes (left, top, right, bottom; inclusive pixels) in `rgb`, as detected
        (no resizing): float64 [4] each; none when `rgb` is smaller than `min_face_side`.

        The boxes of the last `_BOX_CACHE_SIZE` images are remembered (by content
        and settings), so judges that look at the same image (the photo age
        estimator and dlib's descriptor in `evaluate`) detect its faces once."""
        rgb = _check_rgb(rgb)
        key = (self.detector, self.upsample, self.max_detection_side, rgb.shape,
               hashlib.blake2b(rgb.tobytes(), digest_size=16).digest())
        if key not in _BOX_CACHE:
            _BOX_CACHE[key] = self._detect_boxes(rgb)
            while len(_BOX_CACHE) > _BOX_CACHE_SIZE:
                _BOX_CACHE.popitem(last=False)
        _BOX_CACHE.move_to_end(key)
        return [box.copy() for box in _BOX_CACHE[key]]

    def _detect_boxes(self, rgb):
        if min(rgb.shape[:2]) < self.min_face_side:
            return []  # no face fits, and dlib's CNN must not see slivers (see the module docstring)
        if self.detector == "cnn":
            return self._cnn_boxes(rgb)
        rectangles, scores, _ = _hog_detector().run(rgb, self.upsample, 0.0)
        boxes = [_box(rectangle) for rectangle in rectangles]
        if self.detector == "hog":
            return boxes
        if not boxes:
            return self._cnn_boxes(rgb)
        sure = [score >= HOG_CONFIRM_BELOW for score in scores]
        return [box for box, certain in zip(boxes, sure) if certain or self._confirmed(rgb, box)]

    def _cnn_upsample(self, rgb):
        upsample, side = 0, max(rgb.shape[:2])
        while upsample < self.upsample and side * 2 ** (upsample + 1) <= self.max_detection_side:
            upsample += 1
        return upsample

    def _cnn_boxes(self, rgb):
        """The CNN's faces, as HOG-like boxes (`hog_like_box`): the boxes the 68-point model expects."""
        return [hog_like_box(_box(detection.rect)) for detection in _cnn_detector()(rgb, self._cnn_upsample(rgb))]

    def _confirmed(self, rgb, box):
        """Whether the CNN finds a face overlapping `box`, looking at a crop around it."""
        side = float(max(box[2:] - box[:2]) + 1)
        low = np.maximum(np.floor(box[:2] - side / 2), 0).astype(int)
        high = np.minimum(np.ceil(box[2:] + side / 2) + 1, [rgb.shape[1], rgb.shape[0]]).astype(int)
        patch = rgb[low[1] : high[1], low[0] : high[0]]
        zoom = _CONFIRM_FACE_SIDE / side
        interpolation = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
        patch = cv2.resize(patch, None, fx=zoom, fy=zoom, interpolation=interpolation)
        detections = _cnn_detector()(patch, 0)
        found = [(_box(detection.rect) + 0.5) / zoom - 0.5 + np.tile(low, 2) for detection in detections]
        return any(_iou(box, other) >= _CONFIRM_MIN_IOU for other in found)

    @staticmethod
    def _landmarks(rgb, box):
        dlib, _ = require_dlib()
        left, top, right, bottom = (int(round(value)) for value in box)
        shape = _shape_predictor()(rgb, dlib.rectangle(left, top, right, bottom))
        return np.array([(point.x, point.y) for point in shape.parts()], np.float64)
