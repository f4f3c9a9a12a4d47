"""Procedural cartoon faces with exact age, identity and face-parsing ground truth.

Real face-aging datasets must be downloaded by hand and need a GPU to be of
use. This renderer ships with the package: any (identity, age) pair has one
exact image, so an age transformation can be scored pixel by pixel against
the ground truth, and a new user or CI can train end to end in minutes.

Design
------
* **Identity** (`IdentityTraits`): every factor that makes a person
  recognisable -- head shape, skin tone, eye colour and spacing, nose, mouth,
  eyebrows, hair colour and style, moles, gender cues (hair length, lips,
  jaw), beard style, greying and balding tendencies, background and clothing
  -- is drawn once from `np.random.default_rng([seed, identity])` and never
  changes. Children already show a third of their adult head shape.
* **Age** (`_Layout`): a continuous function of age in [0, 90]. Children have
  a smaller, rounder head, a big forehead, large eyes, a small nose and jaw and
  rosy cheeks; proportions reach adult values at about 18. Men grow their
  identity's beard from about 15. From 22 forehead lines, crow's feet and
  nasolabial folds appear and deepen; hair greys from the identity's onset
  (35-50); some identities (mostly men) lose hair at the temples and crown;
  old faces get jowls, heavy eyelids, under-eye bags, thinner and paler lips,
  paler and less saturated skin, neck lines and age spots.
* **Layers**: background, then the age-dependent head (back hair, neck, ears,
  face, features), then the clothing on top. Background and clothing never
  depend on age, so every output pixel whose supersampling block contains no
  visible head pixel is byte-identical at every age, and exactly those pixels
  are labelled background or cloth.
* **Labels**: the parsing map (FFHQ-Aging / CelebAMask-HQ classes,
  `PARSING_CLASSES`; "l_" and "r_" mean image left and right) is drawn with
  the same polygons as the image, without antialiasing.
* **Determinism**: drawing happens on a canvas `supersampling` times the
  output size with OpenCV's integer rasteriser (fixed-point coordinates,
  `shift=SUBPIXEL_BITS`, `LINE_8`). Geometry uses only IEEE-exact float
  arithmetic (no transcendental functions: the unit circle comes from
  `cv2.ellipse2Poly`'s integer table), the random generator is NumPy's PCG64
  with uniform draws only, and downsampling is an integer block mean. The same
  (seed, identity, age, size) gives the same bytes on every machine (with the
  same OpenCV rasteriser, which has been stable for years); the tests pin one
  digest.
"""

import dataclasses
import functools
from typing import NamedTuple

import cv2
import numpy as np

from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS, face_mask_from_parsing

PARSING_CLASSES = {
    "background": 0,
    "skin": 1,
    "nose": 2,
    "eye_g": 3,
    "l_eye": 4,
    "r_eye": 5,
    "l_brow": 6,
    "r_brow": 7,
    "l_ear": 8,
    "r_ear": 9,
    "mouth": 10,
    "u_lip": 11,
    "l_lip": 12,
    "hair": 13,
    "hat": 14,
    "ear_r": 15,
    "neck_l": 16,
    "neck": 17,
    "cloth": 18,
}
MIN_SIZE = 32
MAX_SIZE = 256
MAX_AGE = 90.0

SUBPIXEL_BITS = 4
_SUBPIXEL_SCALE = 1 << SUBPIXEL_BITS
_HALF_PIXEL = 0.5 * _SUBPIXEL_SCALE  # canvas pixel centres sit at integer coordinates
_SKIN = PARSING_CLASSES["skin"]
_HAIR = PARSING_CLASSES["hair"]
_NECK = PARSING_CLASSES["neck"]
_CLOTH = PARSING_CLASSES["cloth"]
_BACKGROUND = PARSING_CLASSES["background"]
_GOLDEN_RATIO_FRACTION = 0.6180339887498949

# cos/sin of every whole degree, exact integers from OpenCV's table / 2**20.
_UNIT_CIRCLE = cv2.ellipse2Poly((0, 0), (1 << 20, 1 << 20), 0, 0, 360, 1)[:360] / float(1 << 20)

_SKIN_TONES = np.array(
    [(247, 219, 198), (234, 190, 156), (205, 152, 112), (162, 110, 76), (112, 74, 52)], np.float64
)
_EYE_COLOURS = {
    "brown": (96, 58, 30),
    "dark_brown": (58, 36, 22),
    "hazel": (128, 100, 48),
    "green": (78, 128, 76),
    "blue": (66, 118, 176),
    "grey": (112, 128, 140),
}
_HAIR_COLOURS = {
    "black": (28, 24, 24),
    "dark_brown": (62, 40, 28),
    "brown": (108, 72, 44),
    "auburn": (132, 62, 36),
    "red": (178, 82, 42),
    "blonde": (206, 170, 108),
    "light_blonde": (228, 204, 152),
}
_GREY_HAIR = (222, 222, 218)
_OUTLINE_WIDTH = 0.008
_HAIR_OVERHANG = 0.006  # front hair reaches this far past the face outline, covering its stroke
_MALE_HAIR_STYLES = ("buzz", "short", "short", "side_part", "side_part", "curly", "medium")
_FEMALE_HAIR_STYLES = ("long", "long", "long", "medium", "bob", "curly", "side_part")
_LONG_HAIR_END = {"bob": 0.70, "medium": 0.86, "long": 1.0}  # y where the side locks end
_BEARD_STYLES = ("none", "stubble", "full", "goatee", "moustache")
_BEARD_STYLE_PROBABILITIES = (0.35, 0.25, 0.15, 0.12, 0.13)
_COLLAR_STYLES = ("crew", "v_neck", "shirt")


@dataclasses.dataclass(frozen=True)
class IdentityTraits:
    """Everything that stays the same for one identity at every age.

    Lengths are fractions of the image side or of the adult head half-width
    (`*_ratio`); colours are RGB tuples.
    """

    identity: int
    gender: int  # 0 male, 1 female
    head_half_width: float
    head_aspect: float  # adult head half-length / half-width
    jaw_ratio: float  # jaw-corner half-width / head half-width
    chin_ratio: float  # chin half-width / head half-width
    skin_colour: tuple
    eye_colour: tuple
    eye_spacing_ratio: float  # eye centre to face centre / head half-width
    eye_size_ratio: float  # eye half-width / head half-width
    eye_openness: float  # eye half-height / half-width
    nose_length_ratio: float
    nose_width_ratio: float
    mouth_width_ratio: float  # mouth half-width / head half-width
    lip_thickness_ratio: float
    lip_colour: tuple
    brow_thickness_ratio: float
    brow_arch_ratio: float
    brow_slant_ratio: float  # > 0: inner ends lower
    ear_size_ratio: float
    hair_colour: tuple
    hair_style: str
    hair_volume_ratio: float
    has_fringe: bool
    parting_side: int  # -1 image left, 1 image right
    greying_onset: float  # age at which greying starts
    greying_span: float  # years from onset to fully grey
    recede_strength: float  # 0: keeps the hairline; 1: bald crown by old age
    beard_style: str
    wrinkle_strength: float
    moles: tuple  # (x, y, radius) in head half-widths, position relative to the nose tip
    age_spots: tuple  # (x, y) offsets in head half-widths, relative to the nose tip
    background_top: tuple
    background_bottom: tuple
    background_shapes: tuple  # (is_circle, x, y, half_size, colour)
    shirt_colour: tuple
    collar_style: str


class RenderedFace(NamedTuple):
    image: np.ndarray  # uint8 [size, size, 3], RGB
    parsing: np.ndarray  # uint8 [size, size], PARSING_CLASSES index per pixel
    landmarks: np.ndarray  # float32 [5, 2] (x, y): eyes, nose tip, mouth corners
    identity: int
    age: float
    gender: int  # 0 male, 1 female


class RenderedFaces(NamedTuple):
    images: np.ndarray  # uint8 [N, size, size, 3], RGB
    face_masks: np.ndarray  # float32 [N, size, size, 1], 1 on face classes (`face_mask_from_parsing`)


# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------


def _channel(value):
    return min(255, max(0, int(round(float(value)))))


def _colour(rgb):
    """Rounds and clips three channel values to an RGB tuple of ints."""
    red, green, blue = rgb
    return (_channel(red), _channel(green), _channel(blue))


def _mix(colour_a, colour_b, amount):
    """Linear blend: 0 gives colour_a, 1 gives colour_b."""
    return _colour([a + (b - a) * amount for a, b in zip(colour_a, colour_b)])


def _scale_colour(colour, factor):
    return _colour([channel * factor for channel in colour])


def _skin_tone(position):
    """Interpolates the skin-tone ramp at position in [0, 1] (light to dark)."""
    scaled = position * (len(_SKIN_TONES) - 1)
    index = min(int(scaled), len(_SKIN_TONES) - 2)
    return _colour(_SKIN_TONES[index] + (_SKIN_TONES[index + 1] - _SKIN_TONES[index]) * (scaled - index))


class _Draws:
    """Random choices from one batch of uniform numbers in [0, 1).

    One `rng.random` call is much faster than many small ones, and uniform
    doubles are bit-identical on every platform.
    """

    _BATCH = 128  # more than one identity ever uses (at most 101)

    def __init__(self, rng):
        self._values = iter(rng.random(self._BATCH).tolist())

    def unit(self):
        return next(self._values)

    def uniform(self, low, high):
        return low + (high - low) * self.unit()

    def chance(self, probability):
        return self.unit() < probability

    def integer(self, low, high):
        """An integer in [low, high]."""
        return min(high, low + int(self.unit() * (high - low + 1)))

    def pick(self, options, weights=None):
        """One of `options`, uniformly or in proportion to `weights`."""
        if weights is None:
            return options[self.integer(0, len(options) - 1)]
        threshold = self.unit() * sum(weights)
        for option, weight in zip(options, weights):
            threshold -= weight
            if threshold < 0.0:
                return option
        return options[-1]

    def colour(self, low, high):
        return (self.integer(low, high), self.integer(low, high), self.integer(low, high))

    def jitter(self, colour, amount):
        return _colour([channel + self.integer(-amount, amount) for channel in colour])


def _check_identity(identity):
    if isinstance(identity, bool) or not isinstance(identity, (int, np.integer)) or identity < 0:
        raise ValueError(f"identity must be an integer >= 0; got {identity!r}.")
    return int(identity)


def identity_traits(identity: int, seed: int = 0) -> IdentityTraits:
    """The identity's persistent factors, drawn from `default_rng([seed, identity])`."""
    return _identity_traits(_check_identity(identity), int(seed))


@functools.lru_cache(maxsize=4096)
def _identity_traits(identity, seed):
    draw = _Draws(np.random.default_rng([seed, identity]))
    gender = int(draw.chance(0.5))
    male = gender == 0
    tone = draw.unit()
    skin = draw.jitter(_skin_tone(tone), 6)
    light_eyes = 0.55 * max(0.0, 1.0 - 2.0 * tone)  # light eyes mostly with light skin
    eye_name = draw.pick(
        tuple(_EYE_COLOURS),
        (1.0 - light_eyes, 0.6 * (1.0 - light_eyes), 0.3, light_eyes, light_eyes, 0.4 * light_eyes),
    )
    fair_hair = max(0.0, 1.0 - 2.5 * tone)  # blonde and red hair mostly with light skin
    hair_name = draw.pick(
        tuple(_HAIR_COLOURS),
        (1.0, 1.0, 0.8, 0.35 * fair_hair, 0.25 * fair_hair, 0.7 * fair_hair, 0.5 * fair_hair),
    )
    hair_style = draw.pick(_MALE_HAIR_STYLES if male else _FEMALE_HAIR_STYLES)
    lip_target = (170, 82, 82) if male else (192, 58, 72)
    recedes = draw.chance(0.55 if male else 0.08)
    background_top = draw.colour(70, 230)
    return IdentityTraits(
        identity=identity,
        gender=gender,
        head_half_width=draw.uniform(0.215, 0.24) if male else draw.uniform(0.205, 0.228),
        head_aspect=draw.uniform(1.22, 1.36),
        jaw_ratio=draw.uniform(0.76, 0.90) if male else draw.uniform(0.62, 0.76),
        chin_ratio=draw.uniform(0.28, 0.40) if male else draw.uniform(0.18, 0.28),
        skin_colour=skin,
        eye_colour=draw.jitter(_EYE_COLOURS[eye_name], 10),
        eye_spacing_ratio=draw.uniform(0.40, 0.50),
        eye_size_ratio=draw.uniform(0.19, 0.24),
        eye_openness=draw.uniform(0.44, 0.60),
        nose_length_ratio=draw.uniform(0.42, 0.62),
        nose_width_ratio=draw.uniform(0.15, 0.25),
        mouth_width_ratio=draw.uniform(0.30, 0.44),
        lip_thickness_ratio=draw.uniform(0.055, 0.08) if male else draw.uniform(0.08, 0.11),
        lip_colour=_mix(skin, lip_target, draw.uniform(0.25, 0.4) if male else draw.uniform(0.5, 0.75)),
        brow_thickness_ratio=draw.uniform(0.065, 0.095) if male else draw.uniform(0.04, 0.06),
        brow_arch_ratio=draw.uniform(0.0, 0.06) if male else draw.uniform(0.04, 0.10),
        brow_slant_ratio=draw.uniform(-0.05, 0.06),
        ear_size_ratio=draw.uniform(0.22, 0.30),
        hair_colour=draw.jitter(_HAIR_COLOURS[hair_name], 8),
        hair_style=hair_style,
        hair_volume_ratio=0.04 if hair_style == "buzz" else draw.uniform(0.10, 0.20),
        has_fringe=draw.chance(0.25 if male else 0.4),
        parting_side=-1 if draw.chance(0.5) else 1,
        greying_onset=draw.uniform(35.0, 50.0),
        greying_span=draw.uniform(18.0, 30.0),
        recede_strength=(draw.uniform(0.45, 1.0) if male else draw.uniform(0.15, 0.35)) if recedes else 0.0,
        beard_style=draw.pick(_BEARD_STYLES, _BEARD_STYLE_PROBABILITIES) if male else "none",
        wrinkle_strength=draw.uniform(0.85, 1.15),
        moles=tuple(
            (draw.uniform(-0.55, 0.55), draw.uniform(-1.0, 0.35), draw.uniform(0.05, 0.08))
            for _ in range(draw.pick((0, 1, 2, 3), (0.3, 0.35, 0.23, 0.12)))
        ),
        age_spots=tuple((draw.uniform(-0.6, 0.6), draw.uniform(-1.4, 0.3)) for _ in range(4)),
        background_top=background_top,
        background_bottom=_mix(background_top, draw.colour(40, 200), draw.uniform(0.4, 0.9)),
        background_shapes=tuple(
            (
                draw.chance(0.5),
                draw.uniform(0.0, 1.0),
                draw.uniform(0.0, 0.8),
                draw.uniform(0.05, 0.16),
                _mix(background_top, draw.colour(30, 240), draw.uniform(0.3, 0.6)),
            )
            for _ in range(draw.integer(2, 4))
        ),
        shirt_colour=draw.colour(25, 215),
        collar_style=draw.pick(_COLLAR_STYLES),
    )


# ---------------------------------------------------------------------------
# Age
# ---------------------------------------------------------------------------


def _lerp(a, b, t):
    return a + (b - a) * t


def _ramp(value, start, end):
    """0 before start, 1 after end, linear in between."""
    return min(1.0, max(0.0, (value - start) / (end - start)))


def _smoothstep(t):
    return t * t * (3.0 - 2.0 * t)


def _ease_out(t):
    """Fast start, slow finish: 0 -> 0, 1 -> 1."""
    return t * (2.0 - t)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Age-dependent geometry and colours of one face, in image-side units."""

    centre_x: float
    head_half_width: float
    head_top: float
    cranium_centre_y: float
    cranium_half_height: float
    jaw_corner: tuple  # (half-width, y)
    chin: tuple  # (half-width, y)
    brow_y: float
    eye_y: float
    eye_spacing: float
    eye_half_width: float
    eye_half_height: float
    iris_radius: float
    eyelid_droop: float  # fraction of the eye covered by the upper lid
    nose_tip_y: float
    nose_length: float
    nose_half_width: float
    mouth_y: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float
    neck_half_width: float
    ear_half_size: tuple
    skin: tuple
    hair: tuple
    hair_volume: float  # hair thickness around the head
    hair_growth: float  # 0 newborn, 1 full head of hair
    hair_length: float  # 0 newborn, 1 the style's full length
    hairline_recession: float  # 0 full hairline, 1 fully receded
    brow: tuple
    lips: tuple
    cheek_blush: float  # 0..1, children
    beard: float  # 0..1 growth of the identity's beard style
    beard_colour: tuple
    wrinkles: float  # 0..1 depth of the age lines
    old_age: float  # 0 at 50, 1 at 90


def _layout(traits, age):
    """The identity's face at `age`: every age effect is a smooth ramp of age."""
    growth = _smoothstep(_ramp(age, 0.0, 18.0))  # child -> adult proportions
    old_age = _ramp(age, 50.0, 90.0)
    greying = _ramp(age, traits.greying_onset, traits.greying_onset + traits.greying_span)

    head_half_width = traits.head_half_width * _lerp(0.84, 1.0, growth)
    # Children share a round head shape; a third of the identity's adult shape already shows.
    half_length = head_half_width * _lerp(_lerp(1.10, traits.head_aspect, 0.35), traits.head_aspect, growth)
    chin_y = _lerp(0.72, 0.745, growth) + 0.02 * old_age
    head_top = chin_y - 2.0 * half_length
    face_length = chin_y - head_top
    cranium_half_height = half_length * _lerp(1.0, 0.9, growth)
    jaw_half_width = head_half_width * (_lerp(_lerp(0.84, traits.jaw_ratio, 0.35), traits.jaw_ratio, growth)
                                        + 0.09 * old_age)
    jaw_y = _lerp(head_top + cranium_half_height, chin_y, _lerp(0.55, 0.62, growth) + 0.12 * old_age)
    chin_half_width = head_half_width * (_lerp(_lerp(0.45, traits.chin_ratio, 0.35), traits.chin_ratio, growth)
                                         + 0.06 * old_age)

    eye_y = head_top + face_length * _lerp(0.585, 0.475, growth)
    eye_half_width = traits.eye_size_ratio * head_half_width * _lerp(1.22, 1.0, growth)
    eye_half_height = eye_half_width * _lerp(_lerp(0.72, traits.eye_openness, 0.35), traits.eye_openness, growth)
    nose_length = traits.nose_length_ratio * head_half_width * _lerp(0.5, 1.0, growth) * (1.0 + 0.1 * old_age)
    nose_tip_y = eye_y + nose_length
    mouth_y = _lerp(nose_tip_y, chin_y, _lerp(0.40, 0.34, growth))
    lip_thinning = 1.0 - 0.5 * _ramp(age, 35.0, 85.0)

    baby = 1.0 - _smoothstep(_ramp(age, 0.0, 6.0))
    skin = _mix(traits.skin_colour, (255, 226, 214), 0.25 * baby)  # babies: pinker
    skin_grey = sum(traits.skin_colour) / 3.0
    pale_skin = _colour([0.45 * c + 0.55 * skin_grey + 18.0 for c in traits.skin_colour])
    skin = _mix(skin, pale_skin, 0.5 * _ramp(age, 40.0, 90.0))
    hair = _mix(traits.hair_colour, _GREY_HAIR, greying)
    brow_greying = _ramp(age, traits.greying_onset + 8.0, traits.greying_onset + 8.0 + traits.greying_span)
    brow = _mix(_mix(traits.hair_colour, skin, 0.4 * (1.0 - growth)), _GREY_HAIR, 0.8 * brow_greying)
    beard_greying = _ramp(age, traits.greying_onset - 5.0, traits.greying_onset - 5.0 + traits.greying_span)
    return _Layout(
        centre_x=0.5,
        head_half_width=head_half_width,
        head_top=head_top,
        cranium_centre_y=head_top + cranium_half_height,
        cranium_half_height=cranium_half_height,
        jaw_corner=(jaw_half_width, jaw_y),
        chin=(chin_half_width, chin_y),
        brow_y=head_top + face_length * _lerp(0.50, 0.395, growth),
        eye_y=eye_y,
        eye_spacing=traits.eye_spacing_ratio * head_half_width * _lerp(1.04, 1.0, growth),
        eye_half_width=eye_half_width,
        eye_half_height=eye_half_height,
        iris_radius=min(0.92 * eye_half_height, 0.62 * eye_half_width),
        eyelid_droop=0.45 * old_age,
        nose_tip_y=nose_tip_y,
        nose_length=nose_length,
        nose_half_width=traits.nose_width_ratio * head_half_width * _lerp(0.75, 1.0, growth) * (1.0 + 0.1 * old_age),
        mouth_y=mouth_y,
        mouth_half_width=traits.mouth_width_ratio * head_half_width * _lerp(0.75, 1.0, growth),
        upper_lip=traits.lip_thickness_ratio * head_half_width * lip_thinning * _lerp(0.8, 1.0, growth),
        lower_lip=1.25 * traits.lip_thickness_ratio * head_half_width * lip_thinning * _lerp(0.8, 1.0, growth),
        neck_half_width=head_half_width * _lerp(0.36, 0.44 if traits.gender else 0.5, growth),
        ear_half_size=(
            0.5 * traits.ear_size_ratio * head_half_width * (1.0 + 0.15 * old_age),
            traits.ear_size_ratio * head_half_width * (1.0 + 0.15 * old_age),
        ),
        skin=skin,
        hair=hair,
        hair_volume=traits.hair_volume_ratio * head_half_width,
        hair_growth=_smoothstep(_ramp(age, 0.0, 4.0)),
        hair_length=_smoothstep(_ramp(age, 1.0, 8.0)),
        hairline_recession=traits.recede_strength * _ramp(age, 22.0, 70.0),
        brow=brow,
        lips=_mix(traits.lip_colour, skin, 0.5 * _ramp(age, 45.0, 90.0) + 0.4 * (1.0 - growth)),
        cheek_blush=1.0 - _smoothstep(_ramp(age, 0.0, 14.0)),
        beard=_smoothstep(_ramp(age, 15.0, 24.0)) if traits.beard_style != "none" else 0.0,
        beard_colour=_mix(_scale_colour(traits.hair_colour, 0.85), _GREY_HAIR, beard_greying),
        wrinkles=min(1.0, traits.wrinkle_strength * _ease_out(_ramp(age, 22.0, 85.0))),
        old_age=old_age,
    )


# ---------------------------------------------------------------------------
# Canvas
# ---------------------------------------------------------------------------


def _supersampling(size):
    """Canvas pixels per output pixel (per axis): the smallest power of two >= 2
    that makes the canvas at least 256 pixels wide."""
    factor = 2
    while size * factor < 256:
        factor *= 2
    return factor


class _Canvas:
    """An RGBX image and a label map drawn with the same fixed-point geometry.

    Four bytes per pixel let the background be filled and the image
    downsampled as whole 32- and 64-bit words.

    Coordinates are fractions of the image side; (0, 0) is the top-left corner
    of the image, (1, 1) the bottom-right one.
    """

    def __init__(self, side):
        self.side = side
        self.image = np.empty((side, side, 4), np.uint8)  # RGB + an unused fourth byte
        self.labels = np.zeros((side, side), np.uint8)
        self._fixed_scale = float(side * _SUBPIXEL_SCALE)

    def fixed(self, points):
        """[N, 2] image-side fractions -> int32 fixed-point canvas pixel centres."""
        return np.rint(np.asarray(points, np.float64) * self._fixed_scale - _HALF_PIXEL).astype(np.int32)

    def _fixed_point(self, point):
        return (int(round(point[0] * self._fixed_scale - _HALF_PIXEL)),
                int(round(point[1] * self._fixed_scale - _HALF_PIXEL)))

    def _length(self, value):
        return int(round(value * self._fixed_scale))

    def _thickness(self, value):
        return max(1, int(round(value * self.side)))

    def polygon(self, points, colour, label=None):
        fixed = [self.fixed(points)]
        cv2.fillPoly(self.image, fixed, colour, cv2.LINE_8, SUBPIXEL_BITS)
        if label is not None:
            cv2.fillPoly(self.labels, fixed, label, cv2.LINE_8, SUBPIXEL_BITS)

    def polyline(self, points, colour, thickness, label=None):
        fixed = [self.fixed(points)]
        width = self._thickness(thickness)
        cv2.polylines(self.image, fixed, False, colour, width, cv2.LINE_8, SUBPIXEL_BITS)
        if label is not None:
            cv2.polylines(self.labels, fixed, False, label, width, cv2.LINE_8, SUBPIXEL_BITS)

    def ellipse(self, centre, half_axes, colour, label=None, arc=(0, 360)):
        centre = self._fixed_point(centre)
        axes = (self._length(half_axes[0]), self._length(half_axes[1]))
        cv2.ellipse(self.image, centre, axes, 0, arc[0], arc[1], colour, -1, cv2.LINE_8, SUBPIXEL_BITS)
        if label is not None:
            cv2.ellipse(self.labels, centre, axes, 0, arc[0], arc[1], label, -1, cv2.LINE_8, SUBPIXEL_BITS)


@functools.lru_cache(maxsize=None)
def _unit_arc(start_degree, end_degree, step):
    degrees = list(range(start_degree, end_degree, step)) + [end_degree]
    unit = _UNIT_CIRCLE[np.array(degrees) % 360]
    unit.setflags(write=False)
    return unit


def _arc(centre_x, centre_y, half_width, half_height, start_degree, end_degree, step=6):
    """Points on an ellipse from start to end degree (0 = +x, 90 = down), inclusive."""
    return _unit_arc(start_degree, end_degree, step) * (half_width, half_height) + (centre_x, centre_y)


def _bezier(start, control, end, count=8):
    """Quadratic Bezier curve through `count` points, start and end included.

    Plain Python floats: for a handful of points this beats NumPy's call overhead.
    """
    (start_x, start_y), (control_x, control_y), (end_x, end_y) = start, control, end
    points = []
    for index in range(count):
        t = index / (count - 1)
        start_weight, control_weight, end_weight = (1.0 - t) * (1.0 - t), 2.0 * (1.0 - t) * t, t * t
        points.append((start_weight * start_x + control_weight * control_x + end_weight * end_x,
                       start_weight * start_y + control_weight * control_y + end_weight * end_y))
    return np.array(points)


def _mirror(points, centre_x):
    """Reflects [N, 2] points about the vertical line x = centre_x."""
    mirrored = np.array(points, np.float64)
    mirrored[:, 0] = 2.0 * centre_x - mirrored[:, 0]
    return mirrored


# ---------------------------------------------------------------------------
# Drawing: static layers
# ---------------------------------------------------------------------------


class _StaticLayers(NamedTuple):
    """An identity's age-independent layers at one canvas size (read-only arrays)."""

    background_image: np.ndarray  # RGBX, under the head
    background_labels: np.ndarray
    clothing_mask: np.ndarray  # bool, where the clothing covers everything below it
    clothing_image: np.ndarray  # RGBX words (uint32), valid where clothing_mask


@functools.lru_cache(maxsize=16)
def _static_layers(traits, side):
    """Background (gradient plus the identity's shapes) and clothing, drawn once per identity."""
    canvas = _Canvas(side)
    rows = np.arange(side, dtype=np.int64)[:, None]
    top, bottom = np.array(traits.background_top + (0,)), np.array(traits.background_bottom + (0,))
    gradient = ((top * (side - 1 - rows) + bottom * rows + (side - 1) // 2) // (side - 1)).astype(np.uint8)
    canvas.image.view(np.uint32)[:, :, 0] = gradient.view(np.uint32)  # one RGBX word per row
    for is_circle, x, y, half_size, colour in traits.background_shapes:
        if is_circle:
            canvas.ellipse((x, y), (half_size, half_size), colour)
        else:
            canvas.polygon(
                [(x - half_size, y - half_size), (x + half_size, y - half_size),
                 (x + half_size, y + half_size), (x - half_size, y + half_size)],
                colour,
            )
    background_image, background_labels = canvas.image.copy(), canvas.labels.copy()
    _draw_clothing(canvas, traits)
    layers = _StaticLayers(
        background_image, background_labels, canvas.labels == _CLOTH, canvas.image.view(np.uint32)[:, :, 0]
    )
    for array in layers:
        array.setflags(write=False)
    return layers


def _draw_clothing(canvas, traits):
    """Shoulders and collar: identical at every age, drawn over the neck and hair."""
    shirt = traits.shirt_colour
    trim = _scale_colour(shirt, 0.7)
    left_shoulder = np.concatenate(
        [[(-0.02, 1.02)], _bezier((-0.02, 0.93), (0.04, 0.82), (0.33, 0.82))]
    )
    if traits.collar_style == "v_neck":
        neckline = np.concatenate([_bezier((0.35, 0.82), (0.44, 0.86), (0.5, 0.95)),
                                   _bezier((0.5, 0.95), (0.56, 0.86), (0.65, 0.82))[1:]])
    else:
        neckline = _bezier((0.35, 0.82), (0.5, 0.96), (0.65, 0.82))
    outline = np.concatenate([left_shoulder, neckline, _mirror(left_shoulder, 0.5)[::-1]])
    canvas.polygon(outline, shirt, _CLOTH)
    if traits.collar_style == "shirt":
        white = _mix(shirt, (245, 245, 240), 0.75)
        for side in (-1.0, 1.0):
            canvas.polygon(
                [(0.5 + side * 0.16, 0.815), (0.5 + side * 0.02, 0.93), (0.5 + side * 0.01, 0.99),
                 (0.5 + side * 0.11, 0.95)],
                white,
                _CLOTH,
            )
    else:
        canvas.polyline(neckline, trim, 0.018, _CLOTH)


# ---------------------------------------------------------------------------
# Drawing: the head
# ---------------------------------------------------------------------------


def _head_outline(layout):
    """Closed outline of the face: cranium arc over the top, cheeks, jaw and chin."""
    x, half_width = layout.centre_x, layout.head_half_width
    jaw_half_width, jaw_y = layout.jaw_corner
    chin_half_width, chin_y = layout.chin
    cranium_y = layout.cranium_centre_y
    cranium = _arc(x, cranium_y, half_width, layout.cranium_half_height, 180, 360)
    right_side = np.concatenate([
        _bezier((x + half_width, cranium_y), (x + half_width, jaw_y - 0.3 * (jaw_y - cranium_y)),
                (x + jaw_half_width, jaw_y)),
        _bezier((x + jaw_half_width, jaw_y), (x + 0.5 * (jaw_half_width + chin_half_width) + 0.01, chin_y),
                (x + chin_half_width, chin_y))[1:],
        _bezier((x + chin_half_width, chin_y), (x, chin_y + 0.012), (x, chin_y + 0.006), count=4)[1:],
    ])
    left_side = _mirror(right_side, x)[::-1]
    return np.concatenate([cranium, right_side[1:], left_side[1:-1]])


def _lower_face(layout, top_y):
    """Outline of the face below `top_y` (right cheek, chin, left cheek): where a beard grows."""
    outline = _head_outline(layout)
    return outline[outline[:, 1] >= top_y]


def _draw_back_hair(canvas, traits, layout):
    """Hair behind the head: the cap around the cranium and, by style, long side locks."""
    x = layout.centre_x
    volume = layout.hair_volume * _lerp(0.25, 1.0, layout.hair_growth)
    top_volume = volume * (1.0 - layout.hairline_recession * layout.hairline_recession)
    half_width = layout.head_half_width + volume
    half_height = layout.cranium_half_height + 0.5 * (volume + top_volume)
    centre_y = layout.cranium_centre_y + 0.5 * (volume - top_volume)
    cap = _arc(x, centre_y, half_width, half_height, 165, 375)
    canvas.polygon(cap, layout.hair, _HAIR)
    if traits.hair_style == "curly":
        for point in _arc(x, centre_y, half_width, half_height, 160, 380, step=22):
            canvas.ellipse(point, (0.6 * volume, 0.6 * volume), layout.hair, _HAIR)
    if traits.hair_style in _LONG_HAIR_END:
        end_y = _lerp(layout.eye_y, _LONG_HAIR_END[traits.hair_style], layout.hair_length)
        if end_y > layout.eye_y + 0.02:
            outer = x + half_width + 0.3 * volume
            lock = np.concatenate([
                [(x, centre_y)],
                _bezier((x + half_width, centre_y), (outer, 0.5 * (centre_y + end_y)), (outer - 0.01, end_y)),
                [(x + layout.head_half_width * 0.6, end_y)],
            ])
            canvas.polygon(lock, layout.hair, _HAIR)
            canvas.polygon(_mirror(lock, x), layout.hair, _HAIR)


def _draw_neck(canvas, layout):
    x, half_width = layout.centre_x, layout.neck_half_width
    top = layout.jaw_corner[1]
    neck = [(x - half_width, top), (x + half_width, top), (x + half_width, 0.84),
            (x + half_width + 0.05, 0.9), (x + half_width + 0.05, 1.01),
            (x - half_width - 0.05, 1.01), (x - half_width - 0.05, 0.9), (x - half_width, 0.84)]
    canvas.polygon(neck, _scale_colour(layout.skin, 0.86), _NECK)
    shadow = _scale_colour(layout.skin, 0.7)
    canvas.ellipse((x, layout.chin[1] - 0.004), (0.95 * half_width, 0.03), shadow, _NECK, arc=(0, 180))
    if layout.old_age > 0.0:
        line = _mix(_scale_colour(layout.skin, 0.86), shadow, layout.old_age)
        for offset in (0.035, 0.065):
            y = layout.chin[1] + offset
            canvas.polyline(_bezier((x - 0.7 * half_width, y), (x, y + 0.012), (x + 0.7 * half_width, y)),
                            line, 0.008)


def _draw_ears(canvas, layout):
    half_width, half_height = layout.ear_half_size
    y = 0.5 * (layout.eye_y + layout.nose_tip_y)
    inner = _scale_colour(layout.skin, 0.78)
    for side, label in ((-1.0, PARSING_CLASSES["l_ear"]), (1.0, PARSING_CLASSES["r_ear"])):
        centre = (layout.centre_x + side * (layout.head_half_width + 0.1 * half_width), y)
        canvas.ellipse(centre, (half_width, half_height), _scale_colour(layout.skin, 0.95), label)
        canvas.ellipse((centre[0] + side * 0.25 * half_width, y), (0.45 * half_width, 0.6 * half_height), inner)


def _draw_face(canvas, layout):
    outline = _head_outline(layout)
    canvas.polygon(outline, layout.skin, _SKIN)
    canvas.polyline(np.concatenate([outline, outline[:1]]), _scale_colour(layout.skin, 0.8), _OUTLINE_WIDTH, _SKIN)
    if layout.cheek_blush > 0.0:
        blush = _mix(layout.skin, (236, 120, 120), 0.35 * layout.cheek_blush)
        for side in (-1.0, 1.0):
            centre = (layout.centre_x + side * layout.eye_spacing, 0.5 * (layout.eye_y + layout.mouth_y))
            canvas.ellipse(centre, (0.9 * layout.eye_half_width, 0.6 * layout.eye_half_width), blush)


def _draw_front_hair(canvas, traits, layout):
    """Hair over the forehead down to the hairline; the hairline recedes with age."""
    if layout.hair_growth < 0.3:
        return
    x, half_width = layout.centre_x, layout.head_half_width
    recession = layout.hairline_recession
    face_top = layout.head_top
    hairline_y = _lerp(face_top + 0.42 * (layout.brow_y - face_top), face_top - _HAIR_OVERHANG, recession)
    if traits.has_fringe and recession < 0.2:
        hairline_y = _lerp(hairline_y, layout.brow_y - 0.25 * half_width, 0.8)
    hairline_y = _lerp(face_top + 0.1 * half_width, hairline_y, _ramp(layout.hair_growth, 0.3, 1.0))
    cranium_y, cranium_half_height = layout.cranium_centre_y, layout.cranium_half_height
    temple_degree = int(round(_lerp(200, 250, recession)))
    temple_left, temple_right = _arc(x, cranium_y, half_width, cranium_half_height, temple_degree, 540 - temple_degree,
                                     step=540 - 2 * temple_degree)
    parting = 0.35 * half_width * traits.parting_side if traits.hair_style == "side_part" else 0.0
    hairline_centre = (x + parting, hairline_y)
    depth = hairline_y - temple_left[1]
    outer = _arc(x, cranium_y, half_width + _HAIR_OVERHANG, cranium_half_height + _HAIR_OVERHANG,
                 temple_degree, 540 - temple_degree)
    hairline = np.concatenate([
        _bezier(temple_right, (temple_right[0], temple_right[1] + 0.9 * depth), hairline_centre),
        _bezier(hairline_centre, (temple_left[0], temple_left[1] + 0.9 * depth), temple_left)[1:],
    ])
    canvas.polygon(np.concatenate([outer, hairline]), layout.hair, _HAIR)
    sideburn_top = cranium_y - 0.3 * cranium_half_height
    sideburn_bottom = layout.eye_y if traits.gender == 0 else 0.5 * (layout.brow_y + layout.eye_y)
    for side in (-1.0, 1.0):
        canvas.polygon(
            [(x + side * (half_width + 0.004), sideburn_top),
             (x + side * (half_width + 0.004), sideburn_bottom),
             (x + side * (0.94 * half_width - 0.01), sideburn_bottom - 0.01),
             (x + side * (0.86 * half_width - 0.012), sideburn_top)],
            layout.hair, _HAIR,
        )


def _draw_brows(canvas, traits, layout):
    half_width = 1.3 * layout.eye_half_width
    thickness = traits.brow_thickness_ratio * layout.head_half_width * _lerp(0.7, 1.0, layout.hair_growth)
    arch = traits.brow_arch_ratio * layout.head_half_width
    slant = traits.brow_slant_ratio * layout.head_half_width
    for side, label in ((-1.0, PARSING_CLASSES["l_brow"]), (1.0, PARSING_CLASSES["r_brow"])):
        cx = layout.centre_x + side * layout.eye_spacing
        inner = (cx - side * half_width, layout.brow_y + slant)
        outer = (cx + side * half_width, layout.brow_y - 0.3 * slant + 0.3 * arch)
        peak = (cx + side * 0.2 * half_width, layout.brow_y - 2.0 * arch - 0.6 * thickness)
        upper = _bezier(inner, peak, outer, count=6)
        lower = _bezier(outer, (peak[0], peak[1] + 2.0 * thickness), (inner[0], inner[1] + thickness), count=6)
        canvas.polygon(np.concatenate([upper, lower]), layout.brow, label)


def _draw_eyes(canvas, traits, layout):
    skin = layout.skin
    lid = _mix(skin, (40, 30, 30), 0.7)
    white = _mix((246, 244, 238), skin, 0.15 + 0.25 * layout.old_age)
    half_width, half_height = layout.eye_half_width, layout.eye_half_height
    for side, label in ((-1.0, PARSING_CLASSES["l_eye"]), (1.0, PARSING_CLASSES["r_eye"])):
        centre = (layout.centre_x + side * layout.eye_spacing, layout.eye_y)
        canvas.ellipse(centre, (half_width, half_height), white, label)
        canvas.ellipse(centre, (layout.iris_radius, layout.iris_radius), traits.eye_colour)
        canvas.ellipse(centre, (0.45 * layout.iris_radius, 0.45 * layout.iris_radius), (20, 16, 16))
        glint = (centre[0] - 0.35 * layout.iris_radius, centre[1] - 0.35 * layout.iris_radius)
        canvas.ellipse(glint, (0.2 * layout.iris_radius, 0.2 * layout.iris_radius), (250, 250, 250))
        lid_drop = 2.0 * layout.eyelid_droop * half_height
        upper_lid = _arc(centre[0], centre[1] + lid_drop, half_width, half_height, 180, 360, step=15)
        if layout.eyelid_droop > 0.0:  # a heavy lid covers the top of the eye; a bag sits below it
            eye_top = _arc(centre[0], centre[1], 1.1 * half_width, 1.1 * half_height, 180, 360, step=15)
            canvas.polygon(np.concatenate([eye_top, upper_lid[::-1]]), skin, _SKIN)
            bag = _mix(skin, (90, 60, 60), 0.35 * layout.old_age)
            bag_line = _arc(centre[0], centre[1] + 0.2 * half_height, 0.9 * half_width, 1.5 * half_height, 30, 150, 20)
            canvas.polyline(bag_line, bag, 0.008)
        canvas.polyline(upper_lid, lid, 0.012 if traits.gender else 0.008, _SKIN)


def _draw_nose(canvas, layout):
    x, tip_y = layout.centre_x, layout.nose_tip_y
    half_width, length = layout.nose_half_width, layout.nose_length
    shade = _scale_colour(layout.skin, 0.9)
    right = np.concatenate([
        [(x + 0.25 * half_width, tip_y - length)],
        _bezier((x + 0.35 * half_width, tip_y - 0.6 * length), (x + 1.1 * half_width, tip_y - 0.2 * length),
                (x + 0.8 * half_width, tip_y + 0.15 * half_width), count=5),
        [(x + 0.3 * half_width, tip_y + 0.3 * half_width)],
    ])
    outline = np.concatenate([right, _mirror(right, x)[::-1]])
    canvas.polygon(outline, shade, PARSING_CLASSES["nose"])
    nostril = _scale_colour(layout.skin, 0.55)
    for side in (-1.0, 1.0):
        centre = (x + side * 0.45 * half_width, tip_y + 0.08 * half_width)
        canvas.ellipse(centre, (0.22 * half_width, 0.13 * half_width), nostril)


def _draw_beard(canvas, traits, layout):
    if layout.beard <= 0.0:
        return
    x = layout.centre_x
    style = traits.beard_style
    beard = _mix(layout.skin, layout.beard_colour, layout.beard * (0.4 if style == "stubble" else 0.95))
    mouth_y, mouth_half_width = layout.mouth_y, layout.mouth_half_width
    if style in ("stubble", "full"):
        top_y = layout.nose_tip_y if style == "stubble" else 0.5 * (layout.eye_y + layout.nose_tip_y)
        region = _lower_face(layout, top_y)
        if style == "full":
            chin_half_width, chin_y = layout.chin
            beard_bottom = chin_y + 0.02 * layout.beard
            region = np.concatenate([
                region[region[:, 0] >= x],
                [(x + chin_half_width, beard_bottom), (x - chin_half_width, beard_bottom)],
                region[region[:, 0] < x],
            ])
        region = np.concatenate([region, [(x - 0.6 * mouth_half_width, top_y + 0.3 * (mouth_y - top_y)),
                                          (x + 0.6 * mouth_half_width, top_y + 0.3 * (mouth_y - top_y))][::-1]])
        canvas.polygon(region, beard, _SKIN)
    if style in ("goatee", "full", "moustache"):
        lip_top = mouth_y - 1.6 * layout.upper_lip
        canvas.polygon(
            [(x - 1.1 * mouth_half_width, mouth_y + 0.3 * layout.upper_lip),
             (x - 0.8 * mouth_half_width, lip_top - 0.05 * layout.head_half_width),
             (x + 0.8 * mouth_half_width, lip_top - 0.05 * layout.head_half_width),
             (x + 1.1 * mouth_half_width, mouth_y + 0.3 * layout.upper_lip)],
            beard, _SKIN,
        )
    if style == "goatee":
        chin_half_width, chin_y = layout.chin
        canvas.polygon(
            [(x - 0.7 * mouth_half_width, mouth_y), (x + 0.7 * mouth_half_width, mouth_y),
             (x + 0.8 * chin_half_width, chin_y + 0.004), (x - 0.8 * chin_half_width, chin_y + 0.004)],
            beard, _SKIN,
        )


def _draw_mouth(canvas, layout):
    x, y = layout.centre_x, layout.mouth_y
    half_width, upper, lower = layout.mouth_half_width, layout.upper_lip, layout.lower_lip
    left, right = (x - half_width, y), (x + half_width, y)
    upper_lip = np.concatenate([
        _bezier(left, (x - 0.55 * half_width, y - 1.6 * upper), (x, y - 0.8 * upper), count=6),
        _bezier((x, y - 0.8 * upper), (x + 0.55 * half_width, y - 1.6 * upper), right, count=6)[1:],
    ])
    lower_lip = _bezier(right, (x, y + 2.0 * lower), left, count=10)
    canvas.polygon(upper_lip, _scale_colour(layout.lips, 0.9), PARSING_CLASSES["u_lip"])
    canvas.polygon(lower_lip, layout.lips, PARSING_CLASSES["l_lip"])
    canvas.polyline(_bezier(left, (x, y + 0.3 * upper), right, count=6), _scale_colour(layout.lips, 0.45),
                    0.008, PARSING_CLASSES["mouth"])


def _draw_moles(canvas, traits, layout):
    colour = _mix(layout.skin, (58, 34, 26), 0.75)
    half_width = layout.head_half_width
    for offset_x, offset_y, radius in traits.moles:
        centre = (layout.centre_x + offset_x * half_width, layout.nose_tip_y + offset_y * half_width)
        canvas.ellipse(centre, (radius * half_width, radius * half_width), colour)


def _draw_age_lines(canvas, traits, layout):
    """Forehead lines, crow's feet, nasolabial folds, marionette lines and age spots."""
    if layout.wrinkles <= 0.0:
        return
    x, half_width, depth = layout.centre_x, layout.head_half_width, layout.wrinkles
    line = _scale_colour(layout.skin, 1.0 - 0.4 * depth)
    thickness = _lerp(0.006, 0.011, depth)
    forehead_lines = min(3, 1 + int(3.0 * depth))
    for index in range(forehead_lines):
        y = layout.brow_y - (0.22 + 0.16 * index) * half_width
        width = (0.45 - 0.05 * index) * half_width * _lerp(0.7, 1.0, depth)
        canvas.polyline(_bezier((x - width, y + 0.01), (x, y - 0.012), (x + width, y + 0.01), count=6), line, thickness)
    for side in (-1.0, 1.0):
        corner_x = layout.centre_x + side * (layout.eye_spacing + 1.15 * layout.eye_half_width)
        for spread in (-1.0, 0.0, 1.0)[: 1 + int(depth * 3.0)]:
            canvas.polyline([(corner_x, layout.eye_y + 0.4 * spread * layout.eye_half_height),
                             (corner_x + side * 0.09 * half_width, layout.eye_y + spread * 0.08 * half_width)],
                            line, thickness)
        wing = (x + side * (layout.nose_half_width + 0.02), layout.nose_tip_y - 0.3 * layout.nose_length)
        fold_end = (x + side * (layout.mouth_half_width + 0.025), layout.mouth_y + 0.6 * layout.lower_lip)
        canvas.polyline(_bezier(wing, (x + side * (layout.mouth_half_width + 0.04), layout.mouth_y - 0.02), fold_end),
                        line, thickness * 1.2)
        if layout.old_age > 0.0:
            marionette_start = (x + side * (layout.mouth_half_width + 0.004), layout.mouth_y + 0.3 * layout.lower_lip)
            marionette_end = (x + side * (layout.mouth_half_width + 0.01),
                              layout.mouth_y + 2.5 * layout.lower_lip + 0.03 * layout.old_age)
            canvas.polyline([marionette_start, marionette_end], line, thickness)
    spots = int(len(traits.age_spots) * layout.old_age)
    spot_colour = _mix(layout.skin, (120, 80, 50), 0.4)
    for offset_x, offset_y in traits.age_spots[:spots]:
        centre = (x + offset_x * half_width, layout.nose_tip_y + offset_y * half_width)
        canvas.ellipse(centre, (0.05 * half_width, 0.04 * half_width), spot_colour)


# ---------------------------------------------------------------------------
# Downsampling
# ---------------------------------------------------------------------------


_UINT16_LANES = np.uint64(0x0001_0001_0001_0001)  # 1 in each 16-bit lane of a 64-bit word
_STATIC_TO_ZERO = np.arange(256, dtype=np.uint8)
_STATIC_TO_ZERO[_CLOTH] = _BACKGROUND


def _block_sums(words, factor):
    """Sums of factor x factor blocks of a [S*f, S*f] array, by strided whole-array adds."""
    rows = words[0::factor].copy()
    for offset in range(1, factor):
        rows += words[offset::factor]
    blocks = rows[:, 0::factor].copy()
    for offset in range(1, factor):
        blocks += rows[:, offset::factor]
    return blocks


def _downsample_image(image, factor):
    """Exact integer block mean, rounded half up, of an [S*f, S*f, 4] RGBX canvas -> [S, S, 3] RGB.

    Each pixel is widened to four 16-bit lanes of one uint64, so one add sums
    all channels; a block sum (at most 64 * 255) never carries into the next lane.
    """
    side = image.shape[0]
    size, area = side // factor, factor * factor
    lanes = image.astype(np.uint16).view(np.uint64).reshape(side, side)
    blocks = _block_sums(lanes, factor)
    blocks += _UINT16_LANES * np.uint64(area // 2)
    blocks >>= np.uint64(area.bit_length() - 1)  # area is a power of two
    blocks &= _UINT16_LANES * np.uint64(0xFF)
    rgbx = blocks.view(np.uint16).reshape(size, size, 4).astype(np.uint8)
    return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB)


def _block_max(labels, factor):
    rows = labels[0::factor].copy()
    for offset in range(1, factor):
        np.maximum(rows, labels[offset::factor], out=rows)
    blocks = rows[:, 0::factor].copy()
    for offset in range(1, factor):
        np.maximum(blocks, rows[:, offset::factor], out=blocks)
    return blocks


def _downsample_labels(labels, factor):
    """Block label: the centre sample, unless that is background or cloth while the
    block holds a visible head pixel; then the block's largest head class.

    So a pixel is labelled background or cloth only if its whole block is, and
    those pixels are the same at every age.
    """
    centre = labels[factor // 2 :: factor, factor // 2 :: factor]
    head_max = _block_max(cv2.LUT(labels, _STATIC_TO_ZERO), factor)
    static = (centre == _BACKGROUND) | (centre == _CLOTH)
    return np.where(static & (head_max > 0), head_max, centre)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] pixels; got {size!r}.")
    return int(size)


def _check_age(age):
    try:
        age = float(age)
    except (TypeError, ValueError):
        raise ValueError(f"age must be a number of years in [0, {MAX_AGE:g}]; got {age!r}.") from None
    if not 0.0 <= age <= MAX_AGE:  # also rejects NaN
        raise ValueError(f"age must be a number of years in [0, {MAX_AGE:g}]; got {age!r}.")
    return age


def render(identity: int, age: float, size: int = 64, seed: int = 0) -> RenderedFace:
    """Renders one identity at one age: image, parsing map and five landmarks."""
    identity, age, size = _check_identity(identity), _check_age(age), _check_size(size)
    traits = _identity_traits(identity, int(seed))
    layout = _layout(traits, age)
    factor = _supersampling(size)
    canvas = _Canvas(size * factor)
    static = _static_layers(traits, canvas.side)
    canvas.image[:] = static.background_image
    canvas.labels[:] = static.background_labels

    _draw_neck(canvas, layout)
    if traits.hair_style in _LONG_HAIR_END:  # long hair falls over the ears
        _draw_ears(canvas, layout)
        _draw_back_hair(canvas, traits, layout)
    else:
        _draw_back_hair(canvas, traits, layout)
        _draw_ears(canvas, layout)
    _draw_face(canvas, layout)
    _draw_age_lines(canvas, traits, layout)
    _draw_moles(canvas, traits, layout)
    _draw_beard(canvas, traits, layout)
    _draw_front_hair(canvas, traits, layout)
    _draw_brows(canvas, traits, layout)
    _draw_eyes(canvas, traits, layout)
    _draw_nose(canvas, layout)
    _draw_mouth(canvas, layout)
    np.copyto(canvas.image.view(np.uint32)[:, :, 0], static.clothing_image, where=static.clothing_mask)
    np.copyto(canvas.labels, _CLOTH, where=static.clothing_mask)

    x, eye_spacing = layout.centre_x, layout.eye_spacing
    landmarks = np.array(
        [(x - eye_spacing, layout.eye_y), (x + eye_spacing, layout.eye_y), (x, layout.nose_tip_y),
         (x - layout.mouth_half_width, layout.mouth_y), (x + layout.mouth_half_width, layout.mouth_y)],
        np.float64,
    )
    return RenderedFace(
        image=_downsample_image(canvas.image, factor),
        parsing=_downsample_labels(canvas.labels, factor),
        landmarks=(landmarks * size - 0.5).astype(np.float32),
        identity=identity,
        age=age,
        gender=traits.gender,
    )


def render_faces(
    identities, ages, size: int = 64, seed: int = 0, non_face_labels=DEFAULT_NON_FACE_LABELS
) -> RenderedFaces:
    """Renders (identity, age) pairs into a batch of images and face masks.

    Face `n` is `render(identities[n], ages[n], size, seed)`; its mask is
    `face_mask_from_parsing(parsing, non_face_labels)` with a channel axis.

    Args:
        identities: N identity ids (integers >= 0).
        ages: N ages in years, in [0, MAX_AGE].
        size: output side in pixels, in [MIN_SIZE, MAX_SIZE].
        seed: the renderer seed.
        non_face_labels: parsing classes that are not face (mask 0).

    Returns:
        `RenderedFaces(images, face_masks)`: uint8 [N, size, size, 3] RGB
        images and float32 [N, size, size, 1] masks (N may be 0). Unpacks
        like a tuple.

    Example:
    ```python
    images, masks = render_faces([3, 4], [20.0, 60.0], 64)
    images.shape, masks.shape   # ((2, 64, 64, 3), (2, 64, 64, 1))
    images.astype(np.float32) / 127.5 - 1.0   # model input in [-1, 1]
    ```
    """
    identities, ages, size = list(identities), list(ages), _check_size(size)
    if len(identities) != len(ages):
        raise ValueError(f"{len(identities)} identities but {len(ages)} ages.")
    images = np.empty((len(identities), size, size, 3), np.uint8)
    face_masks = np.empty((len(identities), size, size, 1), np.float32)
    for index, (identity, age) in enumerate(zip(identities, ages)):
        face = render(identity, age, size, seed)
        images[index] = face.image
        face_masks[index, ..., 0] = face_mask_from_parsing(face.parsing, non_face_labels)
    return RenderedFaces(images, face_masks)


def sample_age(identity: int, index: int, seed: int = 0) -> float:
    """The age of an identity's index-th image: continuous in [0, MAX_AGE].

    A golden-ratio sequence from an identity-specific start, so any number of
    images per identity spreads evenly over the whole age range.
    """
    start = np.random.default_rng([int(seed), _check_identity(identity), 1]).random()
    return MAX_AGE * ((start + int(index) * _GOLDEN_RATIO_FRACTION) % 1.0)


def split_identities(
    num_identities: int, test_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted (train, test) identity ids covering range(num_identities)."""
    if int(num_identities) < 2:
        raise ValueError(f"num_identities must be >= 2; got {num_identities!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}.")
    num_test = min(int(num_identities) - 1, max(1, int(round(num_identities * test_fraction))))
    order = np.random.default_rng([int(seed), 2]).permutation(int(num_identities))
    return np.sort(order[num_test:]), np.sort(order[:num_test])


def generate_examples(identities, images_per_identity: int, size: int = 64, seed: int = 0):
    """Yields one dict per (identity, image index): key, image, parsing, landmarks,
    identity, age and gender; ages come from `sample_age`."""
    for identity in identities:
        for index in range(images_per_identity):
            face = render(identity, sample_age(identity, index, seed), size, seed)
            yield {
                "key": f"{int(identity):06d}_{index:03d}",
                "image": face.image,
                "parsing": face.parsing,
                "landmarks": face.landmarks,
                "identity": face.identity,
                "age": face.age,
                "gender": face.gender,
            }
