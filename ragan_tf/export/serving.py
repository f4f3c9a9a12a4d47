"""The functions a SavedModel serves: uint8 photos and ages in years in, uint8 images out.

Every signature reduces to one core, `generate`: float images in [-1, 1] at
the model's resolution, a face mask, and a continuous target age, which
`age_group_weights` turns into the conditional-batch-norm weights of the
age modulator. The others add resizing, uint8 conversion and batching
around it, all inside the graph, so a client needs TensorFlow only.
"""

import tensorflow as tf

from ragan_tf.data.age_groups import age_group_weights


class AgingFunctions:
    """Graph functions around an EMA generator, ready to become SavedModel signatures.

    Args:
        generator: a RAGAN `Generator` (its variables are used, not copied).
        scheme: the `AgeGroupScheme` the generator was trained with.

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
        }

    # ------------------------------------------------------------- endpoints
    def generate(self, image, face_mask, target_age):
        """Float core: images in [-1, 1] at the model size, masks in [0, 1], ages in years
        (float, continuous) -> `{"aged_image": float32 in [-1, 1]}`."""
        weights = age_group_weights(target_age, self.anchor_ages)
        aged = self.generator(image, face_mask, weights, training=False)
        return {"aged_image": tf.cast(aged, tf.float32)}

    def serving_default(self, image, target_age):
        """uint8 images of any size and int32 ages -> `{"aged_image": uint8, same size}`.
        The whole image counts as face."""
        return self.with_face_mask(image, tf.ones_like(image[..., :1], tf.float32), target_age)

    def with_face_mask(self, image, face_mask, target_age):
        """As `serving_default`, with a face mask ([B, H, W, 1], 1 = face) for the identity encoder."""
        return {"aged_image": self._age_uint8(image, face_mask, tf.cast(target_age, tf.float32))}

    def age_progression(self, image):
        """One uint8 image [H, W, 3] -> the face at every group's anchor age:
        `{"aged_images": uint8 [G, H, W, 3], "age_groups": string [G], "anchor_ages": float32 [G]}`."""
        anchors = tf.constant(self.anchor_ages, tf.float32)
        images = tf.repeat(image[tf.newaxis], len(self.anchor_ages), axis=0)
        aged = self._age_uint8(images, tf.ones_like(images[..., :1], tf.float32), anchors)
        return {"aged_images": aged, "age_groups": tf.constant(self.scheme.labels), "anchor_ages": anchors}

    def _age_uint8(self, image, face_mask, ages):
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        aged = self.generate(
            self._to_model_input(image),
            tf.image.resize(face_mask, (self.image_size, self.image_size), antialias=True),
            ages,
        )["aged_image"]
        return self._to_uint8(aged, height, width)

    # --------------------------------------------------------------- helpers
    def _to_model_input(self, image):
        floats = tf.cast(image, tf.float32) / 127.5 - 1.0
        return tf.image.resize(floats, (self.image_size, self.image_size), antialias=True)

    @staticmethod
    def _to_uint8(aged, height, width):
        resized = tf.image.resize(aged, (height, width), antialias=True)
        return tf.cast(tf.round(tf.clip_by_value((resized + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)

