"""Using a trained generator: paste-back, the Ager API, the `age` command (face tooling: `ragan_tf.faces`)."""
