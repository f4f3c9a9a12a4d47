"""The functions a SavedModel serves, one set per task contract (`ragan_tf.models.tasks`).

Age transformers (`AgingFunctions`): every signature reduces to one core,
`generate`: float images in [-1, 1] at the model's resolution, a face mask,
and a continuous target age, which `age_group_weights` turns into weights
over the age groups (RAGAN's conditional batch norm mixes its per-group
parameters with them; conditional generators take them as their condition).
The others add resizing, uint8 conversion and batching around it, all
inside the graph, so a client needs TensorFlow only.

Samplers (`SamplingFunctions`): `sample` draws `num_images` images from a
seed (at a target age for a conditional sampler); `generate_from_noise` is
the float core.

Every signature checks its inputs inside the graph before the network sees
them (the contract of `AGING_SIGNATURES` / `sampling_signatures`): ranks,
channels and the core's resolution (`tf.ensure_shape`: "Shape of tensor
image [...] is not compatible with expected shape [...]"), non-empty
batches, one target age per image, face masks that match their images, and
finite target ages within `MIN_AGE`-`MAX_AGE` years (`tf.debugging.Assert`
with a message that names the input). A caller that breaks the contract
gets `tf.errors.InvalidArgumentError` naming the input rather than an error
deep inside the network or a silently broadcast batch. A loaded signature
does not check what it is given against its `TensorSpec`s, hence run-time
checks also where the spec is static; and `EnsureShape` rather than a rank
assertion, which the spec's static rank folds to a constant. The checks are
a few scalar ops and change no value; the TFLite converter drops them (its
interpreter checks its fixed input shapes itself).
"""

import tensorflow as tf

from ragan_tf.data.age_groups import age_group_weights

#: The target ages (years) every signature accepts: the span of the age-group
#: schemes (`ragan_tf.data.age_groups`; their top groups end at 120) and of
#: `ragan-tf age --ages`. Within it, ages beyond the first or last anchor age
#: are clamped (`age_group_weights`); outside it, or not finite (a NaN age made
#: an all-NaN image), an age is a caller's mistake and is refused.
MIN_AGE, MAX_AGE = 0, 120
AGE_RANGE = f"finite ages within {MIN_AGE}-{MAX_AGE} years"

AGING_SIGNATURES = {
    "serving_default": {
        "inputs": {"image": "uint8 [B, H, W, 3], any H and W (resized to the model size inside)",
                   "target_age": f"int32 [B], years {MIN_AGE}-{MAX_AGE}, one per image"},
        "outputs": {"aged_image": "uint8 [B, H, W, 3]"},
        "notes": "the whole image counts as face",
    },
    "with_face_mask": {
        "inputs": {"image": "uint8 [B, H, W, 3]", "face_mask": "float32 [B, H, W, 1] (the image's B, H, W), 1 = face",
                   "target_age": f"int32 [B], years {MIN_AGE}-{MAX_AGE}, one per image"},
        "outputs": {"aged_image": "uint8 [B, H, W, 3]"},
    },
    "age_sweep": {
        "inputs": {"image": "uint8 [H, W, 3], one face", "face_mask": "float32 [H, W, 1], 1 = face",
                   "target_age": f"int32 [A], years {MIN_AGE}-{MAX_AGE}"},
        "outputs": {"aged_images": "uint8 [A, H, W, 3], one per target age"},
        "notes": "encodes the face once and renders every target age as one batch (RAGAN); "
                 "ragan-tf age, its sweeps and age_progression use it",
    },
    "age_progression": {
        "inputs": {"image": "uint8 [H, W, 3]"},
        "outputs": {"aged_images": "uint8 [G, H, W, 3], one per age group",
                    "age_groups": "string [G]", "anchor_ages": "float32 [G]"},
    },
    "generate": {
        "inputs": {"image": "float32 [B, S, S, 3] in [-1, 1]", "face_mask": "float32 [B, S, S, 1]",
                   "target_age": f"float32 [B], years {MIN_AGE}-{MAX_AGE} (continuous), one per image"},
        "outputs": {"aged_image": "float32 [B, S, S, 3] in [-1, 1]"},
    },
}


#: Served besides `AGING_SIGNATURES` by age transformers that also read the face's own age and
#: gender (`takes_source`: the conditional VAE); `ragan-tf age` fills them from the photo.
SOURCE_SIGNATURES = {
    "with_source": {
        "inputs": {"image": "uint8 [B, H, W, 3]", "face_mask": "float32 [B, H, W, 1] (the image's B, H, W), 1 = face",
                   "target_age": f"int32 [B], years {MIN_AGE}-{MAX_AGE}, one per image",
                   "source_age": f"int32 [B], the face's own age, years {MIN_AGE}-{MAX_AGE}, or -1: unknown",
                   "gender": "int32 [B], 0 male, 1 female, -1 unknown"},
        "outputs": {"aged_image": "uint8 [B, H, W, 3]"},
        "notes": "the other signatures assume an unknown source age and gender",
    },
}


#: The most latent-optimisation steps `with_latent_optimization` accepts per call.
MAX_LATENT_ITERATIONS = 10_000

#: Served besides the others by age transformers that refine a latent code per face
#: (`optimizes_latent`: Age-cGAN), with an iteration budget and a choice of objective.
LATENT_SIGNATURES = {
    "with_latent_optimization": {
        "inputs": {"image": "uint8 [B, H, W, 3]",
                   "target_age": f"int32 [B], years {MIN_AGE}-{MAX_AGE}, one per image",
                   "source_age": f"int32 [B], the face's own age, years {MIN_AGE}-{MAX_AGE}",
                   "iterations": f"int32 scalar, 0-{MAX_LATENT_ITERATIONS} Adam steps (0: the encoder's z only)",
                   "identity_preserving": "bool scalar: the face-recognition objective (else pixelwise)"},
        "outputs": {"aged_image": "uint8 [B, H, W, 3]"},
        "notes": "the other signatures run the exported model's own latent_iterations and objective",
    },
}


def aging_signatures(generator):
    """The model-card description of an age transformer's signatures."""
    return {**AGING_SIGNATURES, **(SOURCE_SIGNATURES if getattr(generator, "takes_source", False) else {}),
            **(LATENT_SIGNATURES if getattr(generator, "optimizes_latent", False) else {})}


def sampling_signatures(conditional, name):
    """The model-card description of a sampler's signatures (`name`: `serving_default` for a
    pure sampler, `sample` beside an age transformer's signatures)."""
    age = {"target_age": f"float32 scalar, years {MIN_AGE}-{MAX_AGE} (continuous)"} if conditional else {}
    noise_age = ({"target_age": f"float32 [B], years {MIN_AGE}-{MAX_AGE} (continuous), one per row"}
                 if conditional else {})
    return {
        name: {
            "inputs": {"seed": "int32 scalar", "num_images": "int32 scalar, >= 1", **age},
            "outputs": {"images": "uint8 [num_images, S, S, 3]"},
            "notes": "the same seed gives the same images",
        },
        "generate_from_noise": {
            "inputs": {"noise": "float32 [B, noise_dim]", **noise_age},
            "outputs": {"images": "float32 [B, S, S, 3] in [-1, 1]"},
        },
    }


def checked(tensor, *checks):
    """`tensor` once every check (`tf.debugging.Assert` ops) has passed: whatever consumes
    the result waits for them, so a bad input fails on its message, not inside the network."""
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


def require(condition, *message):
    """An Assert op failing with `message` (strings and tensors: the offending shapes or values)."""
    return tf.debugging.Assert(condition, list(message), summarize=8)


def check_images(image, size=None, batched=True):
    """`image` checked to be non-empty RGB: [B, H, W, 3] (`batched`) or [H, W, 3], every side
    >= 1, and H = W = `size` when given (the float core's resolution)."""
    spatial = [size, size, 3]
    image = tf.ensure_shape(image, [None, *spatial] if batched else spatial)
    shape = tf.shape(image)
    layout = "[B, H, W, 3] with B, H, W" if batched else "[H, W, 3] with H, W"
    return checked(image, require(tf.reduce_all(shape[:-1] >= 1), f"image must be {layout} >= 1; got shape", shape))


def check_face_mask(face_mask, image):
    """`face_mask` checked to be [B, H, W, 1] with the same B, H and W as the (checked) `image`."""
    face_mask = tf.ensure_shape(face_mask, [None, None, None, 1])
    mask_shape, image_shape = tf.shape(face_mask), tf.shape(image)
    return checked(face_mask, require(
        tf.reduce_all(tf.equal(mask_shape[:3], image_shape[:3])),
        "face_mask must be [B, H, W, 1] with the same B, H and W as image; got face_mask shape", mask_shape,
        "and image shape", image_shape,
    ))


def check_ages(target_age, batch_of=None, name="image", row="image", label="target_age"):
    """`target_age` (the input `label`) checked to hold finite years within `MIN_AGE`-`MAX_AGE`: a
    scalar when `batch_of` is None, else a vector of one age per `row` of `batch_of` (the input `name`)."""
    target_age = tf.ensure_shape(target_age, [] if batch_of is None else [None])
    years = tf.cast(target_age, tf.float32)
    checks = [require(tf.reduce_all((years >= MIN_AGE) & (years <= MAX_AGE)),
                      f"{label} must be {AGE_RANGE}; got", target_age)]
    if batch_of is not None:
        age_shape, batch_shape = tf.shape(target_age), tf.shape(batch_of)
        checks.append(require(
            tf.equal(age_shape[0], batch_shape[0]),
            f"{label} must hold one age per {row} (the batch sizes must agree); got {label} shape", age_shape,
            f"and {name} shape", batch_shape,
        ))
    return checked(target_age, *checks)


class AgingFunctions:
    """Graph functions around an age transformer, ready to become SavedModel signatures.

    Args:
        generator: an `AgeTransformer` (its variables are used, not copied).
        scheme: the `AgeGroupScheme` it was trained with.

    Example:
    ```python
    functions = AgingFunctions(generator, get_scheme("ffhq_aging"))
    aged = functions.serving_default(image=uint8_images, target_age=tf.constant([70], tf.int32))
    ```
    """

    def __init__(self, generator, scheme):
        self.generator = generator
        self.scheme = scheme
        self.image_size = int(generator.image_size)
        self.anchor_ages = scheme.anchor_ages

    # ----------------------------------------------------------------- specs
    def signatures(self):
        """`{name: (python function, input signature)}` for every served endpoint."""
        size = self.image_size
        image = tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")
        mask = tf.TensorSpec([None, None, None, 1], tf.float32, name="face_mask")
        age = tf.TensorSpec([None], tf.int32, name="target_age")
        return {
            "serving_default": (self.serving_default, [image, age]),
            "with_face_mask": (self.with_face_mask, [image, mask, age]),
            "age_sweep": (self.age_sweep, [tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
                                           tf.TensorSpec([None, None, 1], tf.float32, name="face_mask"), age]),
            "age_progression": (
                self.age_progression, [tf.TensorSpec([None, None, 3], tf.uint8, name="image")]
            ),
            "generate": (
                self.generate,
                [
                    tf.TensorSpec([None, size, size, 3], tf.float32, name="image"),
                    tf.TensorSpec([None, size, size, 1], tf.float32, name="face_mask"),
                    tf.TensorSpec([None], tf.float32, name="target_age"),
                ],
            ),
            **({"with_source": (self.with_source, [image, mask, age, tf.TensorSpec([None], tf.int32, name="source_age"),
                                                   tf.TensorSpec([None], tf.int32, name="gender")])}
               if getattr(self.generator, "takes_source", False) else {}),
            **({"with_latent_optimization": (self.with_latent_optimization, [
                image, age, tf.TensorSpec([None], tf.int32, name="source_age"),
                tf.TensorSpec([], tf.int32, name="iterations"), tf.TensorSpec([], tf.bool, name="identity_preserving")])}
               if getattr(self.generator, "optimizes_latent", False) else {}),
        }

    # ------------------------------------------------------------- endpoints
    def generate(self, image, face_mask, target_age):
        """Float core: images in [-1, 1] at the model size, masks in [0, 1], ages in years
        (float, continuous) -> `{"aged_image": float32 in [-1, 1]}`."""
        image = check_images(image, size=self.image_size)
        face_mask = check_face_mask(face_mask, image)
        return self._generate(image, face_mask, check_ages(target_age, image))

    def serving_default(self, image, target_age):
        """uint8 images of any size and int32 ages -> `{"aged_image": uint8, same size}`.
        The whole image counts as face."""
        image = check_images(image)
        target_age = check_ages(target_age, image)
        return {"aged_image": self._age_uint8(image, tf.ones_like(image[..., :1], tf.float32), target_age)}

    def with_face_mask(self, image, face_mask, target_age):
        """As `serving_default`, with a face mask ([B, H, W, 1], 1 = face) for the identity encoder."""
        image = check_images(image)
        face_mask = check_face_mask(face_mask, image)
        return {"aged_image": self._age_uint8(image, face_mask, check_ages(target_age, image))}

    def with_source(self, image, face_mask, target_age, source_age, gender):
        """As `with_face_mask`, with the face's own age in years (-1: unknown) and gender (0 male,
        1 female, -1 unknown), for age transformers that condition on them (`takes_source`)."""
        image = check_images(image)
        face_mask = check_face_mask(face_mask, image)
        target_age = check_ages(target_age, image)
        known = tf.ensure_shape(source_age, [None]) >= 0
        source_age = check_ages(tf.where(known, source_age, 0), image, label="source_age")
        gender = tf.ensure_shape(gender, [None])
        gender = checked(gender, require(tf.reduce_all((gender >= -1) & (gender <= 1)),
                                         "gender must be 0 (male), 1 (female) or -1 (unknown); got", gender),
                         require(tf.equal(tf.shape(gender)[0], tf.shape(image)[0]),
                                 "gender must hold one value per image; got shape", tf.shape(gender)))
        groups = len(self.anchor_ages)
        source = tf.where(known[:, None], age_group_weights(tf.cast(source_age, tf.float32), self.anchor_ages),
                          tf.fill([tf.shape(known)[0], groups], 1.0 / groups))
        return {"aged_image": self._age_uint8(image, face_mask, target_age, source_age=source, gender=gender)}

    def with_latent_optimization(self, image, target_age, source_age, iterations, identity_preserving):
        """uint8 images, target and source ages in years, an iteration budget and the objective ->
        `{"aged_image": uint8}`: the encoder's z refined by `iterations` Adam steps with the source
        age group fixed (`optimizes_latent`: Age-cGAN), then decoded at the target age."""
        image = check_images(image)
        target_age = check_ages(target_age, image)
        source_age = check_ages(source_age, image, label="source_age")
        iterations = tf.ensure_shape(iterations, [])
        checks = [require((iterations >= 0) & (iterations <= MAX_LATENT_ITERATIONS),
                          f"iterations must be within 0-{MAX_LATENT_ITERATIONS}; got", iterations)]
        if not self.generator.has_identity_network:
            checks.append(require(tf.logical_not(identity_preserving),
                                  "identity_preserving needs a face-recognition network, and this model was "
                                  "exported without one (model.identity_network none)"))
        iterations = checked(iterations, *checks)
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        source = age_group_weights(tf.cast(source_age, tf.float32), self.anchor_ages)
        latent = self.generator.refined_latent(self._to_model_input(image), source, iterations, identity_preserving)
        aged = self.generator.decode(latent, age_group_weights(tf.cast(target_age, tf.float32), self.anchor_ages))
        return {"aged_image": self._to_uint8(tf.cast(aged, tf.float32), height, width)}

    def age_sweep(self, image, face_mask, target_age):
        """One uint8 face [H, W, 3], its mask [H, W, 1] and A int32 ages -> `{"aged_images": uint8
        [A, H, W, 3]}`: the network's `age_sweep` (RAGAN encodes the face once for all A ages)."""
        image = check_images(image, batched=False)
        face_mask = check_face_mask(face_mask[tf.newaxis], image[tf.newaxis])[0]
        target_age = tf.ensure_shape(target_age, [None])
        target_age = checked(target_age, require(tf.shape(target_age)[0] >= 1,
                                                 "target_age must hold at least one age; got shape", tf.shape(target_age)))
        target_age = check_ages(target_age, batch_of=target_age)  # a vector of any length: compared with itself
        return {"aged_images": self._sweep_uint8(image, face_mask, tf.cast(target_age, tf.float32))}

    def age_progression(self, image):
        """One uint8 image [H, W, 3] -> the face at every group's anchor age:
        `{"aged_images": uint8 [G, H, W, 3], "age_groups": string [G], "anchor_ages": float32 [G]}`."""
        image = check_images(image, batched=False)
        anchors = tf.constant(self.anchor_ages, tf.float32)
        aged = self._sweep_uint8(image, tf.ones_like(image[..., :1], tf.float32), anchors)
        return {"aged_images": aged, "age_groups": tf.constant(self.scheme.labels), "anchor_ages": anchors}

    # --------------------------------------------------------------- helpers
    def _generate(self, image, face_mask, target_age, **source):
        weights = age_group_weights(target_age, self.anchor_ages)
        aged = self.generator(image, face_mask, weights, training=False, **source)
        return {"aged_image": tf.cast(aged, tf.float32)}

    def _age_uint8(self, image, face_mask, ages, **source):
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        aged = self._generate(
            self._to_model_input(image),
            tf.image.resize(face_mask, (self.image_size, self.image_size), antialias=True),
            tf.cast(ages, tf.float32),
            **source,
        )["aged_image"]
        return self._to_uint8(aged, height, width)

    def _sweep_uint8(self, image, face_mask, ages):
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        size = (self.image_size, self.image_size)
        aged = self.generator.age_sweep(self._to_model_input(image[tf.newaxis]),
                                        tf.image.resize(face_mask[tf.newaxis], size, antialias=True),
                                        age_group_weights(ages, self.anchor_ages), training=False)[0]
        return self._to_uint8(tf.cast(aged, tf.float32), height, width)

    def _to_model_input(self, image):
        floats = tf.cast(image, tf.float32) / 127.5 - 1.0
        return tf.image.resize(floats, (self.image_size, self.image_size), antialias=True)

    @staticmethod
    def _to_uint8(aged, height, width):
        resized = tf.image.resize(aged, (height, width), antialias=True)
        return tf.cast(tf.round(tf.clip_by_value((resized + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


class SamplingFunctions:
    """Graph functions around a `Sampler`, ready to become SavedModel signatures.

    Args:
        sampler: a `Sampler` (unconditional or conditional).
        scheme: the `AgeGroupScheme` a conditional sampler was trained with.
        name: the name of the uint8 sampling signature (`serving_default` for
            a pure sampler, `sample` beside aging signatures).

    Example:
    ```python
    functions = SamplingFunctions(generator, get_scheme("unconditional"))
    images = functions.sample(seed=tf.constant(0), num_images=tf.constant(16))["images"]
    ```
    """

    def __init__(self, sampler, scheme, name="serving_default"):
        self.sampler = sampler
        self.scheme = scheme
        self.name = name
        self.conditional = bool(sampler.conditional)
        self.noise_dim = int(sampler.noise_dim)

    def signatures(self):
        age = [tf.TensorSpec([], tf.float32, name="target_age")] if self.conditional else []
        noise_age = [tf.TensorSpec([None], tf.float32, name="target_age")] if self.conditional else []
        return {
            self.name: (self.sample, [tf.TensorSpec([], tf.int32, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_images"), *age]),
            "generate_from_noise": (self.generate_from_noise,
                                    [tf.TensorSpec([None, self.noise_dim], tf.float32, name="noise"), *noise_age]),
        }

    def generate_from_noise(self, noise, target_age=None):
        """Float core: z [B, noise_dim] (and ages in years [B]) -> `{"images": float32 in [-1, 1]}`."""
        noise = tf.ensure_shape(noise, [None, self.noise_dim])
        shape = tf.shape(noise)
        noise = checked(noise, require(shape[0] >= 1, f"noise must be [B, {self.noise_dim}] with B >= 1; got shape",
                                       shape))
        ages = check_ages(target_age, noise, "noise", "noise row") if self.conditional else None
        return self._generate_from_noise(noise, ages)

    def sample(self, seed, num_images, target_age=None):
        """`num_images` uint8 images from z ~ N(0, I) drawn with `seed` (at `target_age` years)."""
        seed, num_images = tf.ensure_shape(seed, []), tf.ensure_shape(num_images, [])
        num_images = checked(num_images, require(num_images >= 1, "num_images must be >= 1; got", num_images))
        noise = tf.random.stateless_normal([num_images, self.noise_dim], seed=tf.stack([seed, 0]))
        ages = tf.fill([num_images], check_ages(target_age)) if self.conditional else None
        images = self._generate_from_noise(noise, ages)["images"]
        return {"images": tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)}

    def _generate_from_noise(self, noise, target_age):
        condition = age_group_weights(target_age, self.scheme.anchor_ages) if self.conditional else None
        return {"images": tf.cast(self.sampler(noise, condition, training=False), tf.float32)}
