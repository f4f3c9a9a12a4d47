"""Evaluation during training: the main metrics of the EMA generator in TensorBoard every N epochs."""

import keras

from ragan_tf.evaluation.evaluate import Metrics, evaluate_rows, summarize

#: Overall summary columns written as TensorBoard scalars (when present).
LOGGED = ("face_l1_vs_truth", "background_psnr_db", "background_ssim", "age_in_group_share", "age_mae_to_anchor",
          "identity_distance", "identity_verified")


class EvaluationCallback(keras.callbacks.Callback):
    """Every `every_epochs` epochs, measures the training model's inference network on a fixed test
    set and writes the overall metrics as `eval/<metric>` scalars: an age transformer ages the
    test faces to every group (face error against the exact truth, background, reconstruction
    L1); a sampler draws samples from fixed noise (SWD against the test faces).

    Args:
        evaluation_set: an `EvaluationSet` (e.g. `synthetic_test_set(config.data, 32)`).
        scheme: the `AgeGroupScheme`.
        log_dir: TensorBoard folder (a `validation`-like subfolder is added: `eval`).
        every_epochs: evaluation period in epochs.
        metrics: a `Metrics`; by default the cheap ones only (exact synthetic
            ground truth, background PSNR/SSIM, reconstruction), no trained estimator.

    Example:
    ```python
    callback = EvaluationCallback(synthetic_test_set(config.data, 32), scheme, "checkpoints/run/logs", 2)
    model.fit(data, epochs=10, callbacks=[callback])
    ```
    """

    def __init__(self, evaluation_set, scheme, log_dir, every_epochs=1, metrics=None, non_face_labels=(0, 14, 15, 16, 18)):
        super().__init__()
        self.evaluation_set = evaluation_set
        self.scheme = scheme
        self.every_epochs = int(every_epochs)
        self.metrics = metrics or Metrics(exact_truth=True)
        self.non_face_labels = non_face_labels
        self.log_dir = str(log_dir)
        self.history = []
        self._writer = None

    def evaluate_now(self):
        """The overall metrics of the training model's inference network now (dict)."""
        return self.evaluate_network(self.model.inference_model)

    def evaluate_network(self, network):
        """The overall metrics of any inference network (an age transformer or a sampler), dict."""
        import pandas as pd

        from ragan_tf.evaluation.evaluate import draw_samples, network_functions, sampler_summary

        functions = network_functions(network)
        if functions.age_transformer is None:
            samples = draw_samples(functions.sampler, functions.noise_dim, functions.conditional, self.scheme,
                                   len(self.evaluation_set))
            summary, _ = sampler_summary(samples, functions.conditional, self.evaluation_set, self.scheme)
            return {"swd": float(summary.loc["overall" if functions.conditional else "all", "swd"])}
        rows, _, _ = evaluate_rows(functions.age_transformer, self.evaluation_set, self.scheme, self.metrics,
                                non_face_labels=self.non_face_labels, progress=False)
        summary = summarize(pd.DataFrame(rows), self.scheme, getattr(self.metrics.identity_embedder, "threshold", None))
        values = {key: float(summary.loc["overall", key]) for key in LOGGED if key in summary.columns}
        for key in ("reconstruction_l1", "reconstruction_psnr_db"):
            if key in summary.attrs:
                values[key] = summary.attrs[key]
        return values

    def on_epoch_end(self, epoch, logs=None):
        if self.every_epochs <= 0 or (epoch + 1) % self.every_epochs:
            return
        import tensorflow as tf

        values = self.evaluate_now()
        self.history.append((epoch, values))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/eval")
        with self._writer.as_default(step=epoch):
            for key, value in values.items():
                tf.summary.scalar(f"eval/{key}", value)
        self._writer.flush()
