"""`fit` for a multi-worker cluster: the family's own `train_step` under `strategy.run`, in a
compiled loop, driving the same Keras callbacks as `Model.fit`.

Keras 3 `Model.fit` fails under `MultiWorkerMirroredStrategy` (TF 2.21 /
Keras 3.15, keras-team/keras#20585: its reduction of the step's logs), while
the engine itself, collective all-reduce across workers, works. So `train`
calls `fit_in_loop` instead of `model.fit` when the strategy is
multi-worker. There is one implementation of each family's step: the loop
runs `model.train_step` and `model.test_step`, exactly what `fit` runs; the
gradient all-reduce happens inside the optimizers, as under
`MirroredStrategy`, and the losses are per-example sums over the global
batch (`training_helpers.global_mean`), so a step on N workers is the step
on one device with the same global batch.

What `fit` does and this loop does too: `CallbackList` with the history
and the progress bar; `on_train_begin`, per-epoch `on_epoch_begin` /
`on_epoch_end` with `val_` logs from `validation_steps` test batches (the
validation iterator is kept across epochs, as `fit` keeps it), per-execution
`on_train_batch_begin` / `on_train_batch_end` with the logs of the last
step, `model.stop_training`, and `steps_per_execution` steps per call of the
compiled function. The logs are the mean over replicas of each replica's
trackers (every replica holds the same number of examples, so this is the
mean over the global batch). XLA: the step is not compiled with
`jit_compile` under this strategy (its collectives run outside XLA, as
Keras also turns XLA off under `tf.distribute` by default).
"""

import keras
import numpy as np
import tensorflow as tf


def make_step_function(step, strategy):
    """`f(iterator, count) -> logs`: `count` (int32 tensor, >= 1) calls of `step` on the next
    distributed batches, each under `strategy.run`; the logs of the last one, averaged over replicas."""

    def one_step(iterator):
        outputs = strategy.run(step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in outputs.items()}

    @tf.function
    def steps(iterator, count):
        logs = one_step(iterator)
        for _ in tf.range(count - 1):
            logs = one_step(iterator)
        return logs

    return steps


def _numpy_logs(logs):
    return {name: np.asarray(value).item() for name, value in logs.items()}


def fit_in_loop(model, strategy, train_data, *, epochs, initial_epoch, steps_per_epoch, validation_data=None,
                validation_steps=None, callbacks=(), verbose=1):
    """Trains like `model.fit(train_data, epochs=..., initial_epoch=..., steps_per_epoch=...,
    validation_data=..., validation_steps=..., callbacks=..., verbose=...)`.

    Args:
        model: a compiled family training model (its `train_step`, `test_step`, `metrics` and
            `steps_per_execution` are used).
        strategy: the strategy the model was built under.
        train_data: a distributed dataset (`strategy.distribute_datasets_from_function`).
        validation_data: a distributed dataset, or None.
        verbose: 0 (silent), 1 (progress bar) or 2 (one line per epoch), as `fit`'s.

    Returns:
        The `keras.callbacks.History`, as `fit` returns it.
    """
    verbose = 1 if verbose == "auto" else verbose
    callback_list = keras.callbacks.CallbackList(list(callbacks), add_history=True, add_progbar=verbose != 0,
                                                 model=model, verbose=verbose, epochs=epochs, steps=steps_per_epoch)
    train_function = make_step_function(model.train_step, strategy)
    test_function = make_step_function(model.test_step, strategy) if validation_data is not None else None
    per_execution = max(1, int(getattr(model, "steps_per_execution", 1) or 1))
    iterator = iter(train_data)
    validation_iterator = iter(validation_data) if validation_data is not None else None
    model.stop_training = False
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        step = 0
        while step < steps_per_epoch:
            count = min(per_execution, steps_per_epoch - step)
            callback_list.on_train_batch_begin(step)
            logs = _numpy_logs(train_function(iterator, tf.constant(count, tf.int32)))
            step += count
            callback_list.on_train_batch_end(step - 1, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if test_function is not None and not model.stop_training:
            model.reset_metrics()
            validation_logs = {}
            for _ in range(validation_steps or 1):
                validation_logs = _numpy_logs(test_function(validation_iterator, tf.constant(1, tf.int32)))
            epoch_logs.update({f"val_{name}": value for name, value in validation_logs.items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return model.history
