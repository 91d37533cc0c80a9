"""Guards that keep non-finite batches and losses out of the weights (`on_nan="skip"`)."""

import tensorflow as tf


def all_finite(tensors):
    """True when every element of every tensor is finite."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def apply_if_finite(optimizer, gradients, variables, finite, after=None):
    """Applies the gradients (then `after()`) only when `finite` is True."""

    def apply():
        optimizer.apply_gradients(zip(gradients, variables))
        if after is not None:
            after()
        return tf.constant(True)

    return tf.cond(finite, apply, lambda: tf.constant(False))


def skip_or_run(inputs_finite, step, names):
    """Runs `step()` for a finite batch; otherwise touches nothing.

    A batch with NaN or infinite inputs must not even run forward in training
    mode: batch normalisation would write its statistics into the moving
    averages. The skipped step reports NaN losses and `finite=False`.
    """

    def skipped():
        values = {name: tf.constant(float("nan")) for name in names}
        values["finite"] = tf.constant(False)
        return values

    return tf.cond(inputs_finite, step, skipped)


def track(trackers, values, finite):
    """Updates Mean trackers with this step's values, unless the step was not finite."""
    weight = tf.cast(finite, tf.float32)
    for name, tracker in trackers.items():
        tracker.update_state(tf.where(finite, values[name], 0.0), sample_weight=weight)
