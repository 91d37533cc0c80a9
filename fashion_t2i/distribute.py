"""tf.distribute plumbing: strategies, replica-aware reductions, the compiled step.

The training steps (`DAMSM.train_step`, `AttnGAN.train_step`) run in a
replica context: under `strategy.run` each replica sees `B / R` examples of
a global batch of `B` (R replicas); without a strategy, R = 1 and every
function here is the identity. The steps keep the values they log equal to
the one-device values:

- batch means (the adversarial BCE terms, KL) are averaged over replicas
  for logging and divided by R for the gradient, whose sum over replicas
  (the optimizer all-reduces with SUM) is then the gradient of the global
  mean;
- the similarity loss scores every caption against every image of the
  batch, so its features are gathered from all replicas first and every
  replica computes the loss of the global batch (again divided by R for
  the gradient; `all_gather` sends each replica its slice of the upstream
  gradient sum);
- batch normalisation uses global batch statistics
  (`synchronize_batch_norm`);
- noise is drawn for the global batch and sliced (`replica_slice`).
"""

import os

import keras
import tensorflow as tf



def configure(runtime):
    """Process-wide settings of a `RuntimeConfig`; call before building models.

    Splits the CPU into `num_cpu_devices` logical devices (which must happen
    before TensorFlow initialises its devices) and sets Keras's global
    dtype policy for mixed precision.
    """
    if runtime.num_cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        wanted = [tf.config.LogicalDeviceConfiguration()] * runtime.num_cpu_devices
        current = tf.config.get_logical_device_configuration(cpu)
        if current is None or len(current) != len(wanted):
            try:
                tf.config.set_logical_device_configuration(cpu, wanted)
            except RuntimeError as e:
                raise RuntimeError(
                    f"num_cpu_devices={runtime.num_cpu_devices} must be set before TensorFlow "
                    f"initialises its devices: {e}"
                ) from e
    policy = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    keras.mixed_precision.set_dtype_policy(policy[runtime.mixed_precision])


def make_strategy(runtime):
    """The `tf.distribute.Strategy` of `runtime.strategy`.

    - `default`: no distribution (the current device).
    - `mirrored`: `MirroredStrategy` over every local GPU, or over the
      logical CPU devices when there is no GPU (see `num_cpu_devices`).
    - `multi_worker`: `MultiWorkerMirroredStrategy`; the cluster comes from
      the `TF_CONFIG` environment variable.
    - `tpu`: `TPUStrategy` on `runtime.tpu` (or `TPU_NAME`).

    Raises:
        ValueError: `multi_worker` without `TF_CONFIG`, or `jit_compile`
            with a strategy whose step cannot be compiled as a whole.
    """
    if runtime.jit_compile and runtime.strategy in ("mirrored", "multi_worker"):
        raise ValueError(
            f"jit_compile is not supported with strategy={runtime.strategy!r}: the "
            "cross-replica synchronisation of the step cannot be compiled; TPU steps "
            "are always compiled."
        )
    if runtime.strategy == "default":
        return tf.distribute.get_strategy()
    if runtime.strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if runtime.strategy == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy='multi_worker' needs the TF_CONFIG environment variable "
                "(cluster and task of this worker); see BUILD.md."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=runtime.tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def num_replicas():
    """R: replicas taking part in the current step (1 outside `strategy.run`)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def all_gather(x):
    """`x` of every replica, concatenated along the batch axis (replica order).

    Built from a SUM all-reduce of `x` placed at this replica's rows of a
    zero tensor of the global batch: `ReplicaContext.all_gather` fails under
    `MultiWorkerMirroredStrategy` in a `tf.function` (its destinations are
    the tensors' devices, which are unset there). The gradient is the same:
    each replica receives its rows of the upstream gradient summed over
    replicas. Every replica must hold the same number of rows.
    """
    replicas = num_replicas()
    if replicas == 1:
        return x
    context = tf.distribute.get_replica_context()
    if x.dtype == tf.bool:  # collectives do not carry booleans
        return tf.cast(all_gather(tf.cast(x, tf.int32)), tf.bool)
    rows = tf.shape(x)[0]
    index = tf.cast(context.replica_id_in_sync_group, tf.int32)
    padding = [[index * rows, (replicas - 1 - index) * rows]] + [[0, 0]] * (x.shape.rank - 1)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.pad(x, padding))


def mean_over_replicas(x):
    """The mean of a scalar over replicas: a per-replica batch mean becomes the global one."""
    if num_replicas() == 1:
        return x
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, x)


def for_gradient(loss):
    """`loss / R`: summed over replicas by the optimizer, the gradient of the global loss."""
    replicas = num_replicas()
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)


def all_replicas(flag):
    """True when `flag` is True on every replica (the same answer on each)."""
    if num_replicas() == 1:
        return flag
    failures = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(flag, tf.float32)
    )
    return tf.equal(failures, 0.0)


def replica_slice(global_values, local_batch):
    """This replica's rows of a tensor drawn for the global batch."""
    if num_replicas() == 1:
        return global_values
    start = tf.distribute.get_replica_context().replica_id_in_sync_group * local_batch
    return global_values[start : start + local_batch]


def global_batch_size(local_batch):
    return local_batch * num_replicas()


def synchronize_batch_norm(model):
    """Makes every BatchNormalization layer of `model` use global batch statistics.

    Only needed (and only done) with more than one replica: with local
    statistics a replica would normalise by its own B / R examples and the
    step would differ from one device's. Keras reads `synchronized` at call
    time; the setting is not saved with the weights.
    """
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def all_finite(tensors):
    """True when every element of every tensor is finite."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def apply_gradients_if(optimizer, gradients, variables, condition, after=None):
    """Applies the gradients (then `after()`) only when `condition` is True.

    Keeps non-finite losses out of the weights (`on_nan="skip"`); valid in
    a replica context of any strategy. Returns whether it applied.
    `condition` must be the same on every replica (see `all_replicas`).
    With a strategy that synchronises through `merge_call` (Mirrored on
    one machine), a `tf.cond` whose branch all-reduces gradients cannot be
    built in the replica context; as Keras's `LossScaleOptimizer` does, the
    decision is taken in the cross-replica context and the update runs on
    every replica from there.
    """
    context = tf.distribute.get_replica_context()
    if (
        context is None
        or not tf.distribute.has_strategy()
        or tf.__internal__.distribute.strategy_supports_no_merge_call()
    ):

        def apply():
            optimizer.apply_gradients(zip(gradients, variables))
            if after is not None:
                after()
            return tf.constant(True)

        return tf.cond(condition, apply, lambda: tf.constant(False))

    def cross_replica(distribution, gradients, condition):
        decided = distribution.experimental_local_results(condition)[0]

        def apply():
            distribution.extended.call_for_each_replica(
                lambda g: optimizer.apply_gradients(zip(g, variables)), args=(gradients,)
            )
            if after is not None:
                after()
            return tf.constant(True)

        return tf.cond(decided, apply, lambda: tf.constant(False))

    return context.merge_call(cross_replica, args=(gradients, condition))


def restore_unless(condition, variables, values):
    """Puts `values` (read earlier) back into `variables` unless `condition` is True.

    What a skipped step uses for the state its forward pass writes in
    training mode (batch-normalisation moving statistics): a step whose
    update is not applied must leave none of it behind. Returns whether it
    restored.
    """

    def restore():
        for variable, value in zip(variables, values):
            variable.assign(value)
        return tf.constant(True)

    return tf.cond(condition, lambda: tf.constant(False), restore)


def skip_or_run(inputs_finite, step, names):
    """Runs the training step `step()` for a finite batch; otherwise touches nothing.

    A batch with NaN or infinite inputs must not even run forward in
    training mode: batch normalisation would write its statistics into the
    moving averages. The skipped step reports NaN for each of `names` and
    `finite=False`. With several replicas this is just `step()`: a
    `tf.cond` around a whole step cannot hold its cross-replica
    synchronisation, so `step_function` checks the inputs of all replicas
    in the cross-replica context instead.
    """
    if num_replicas() > 1:
        return step()

    def skipped():
        values = {name: tf.constant(float("nan")) for name in names}
        values["finite"] = tf.constant(False)
        return values

    return tf.cond(inputs_finite, step, skipped)


def first_replica(strategy, values):
    """A structure of per-replica values that agree across replicas, as plain tensors."""
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], values)


def _is_distributed(strategy):
    return isinstance(
        strategy,
        (
            tf.distribute.MirroredStrategy,
            tf.distribute.MultiWorkerMirroredStrategy,
            tf.distribute.TPUStrategy,
        ),
    )


def _inputs_finite(batch):
    return all_finite([t for t in tf.nest.flatten(batch) if t.dtype.is_floating])


def step_function(strategy, model, jit_compile=False):
    """The compiled training step of `model`: `batch -> results` (replica 0's).

    Without distribution this is `model.train_step` under `tf.function`
    (XLA-compiled with `jit_compile`). Under a distribution strategy `batch`
    is a distributed batch (see `distribute_batches`) and `train_step` runs
    on every replica; a batch with a non-finite input on any replica is
    skipped as a whole, before any forward pass, and reports NaN losses.
    The logged values agree across replicas (see the module docstring), so
    replica 0's are returned.
    """
    if not _is_distributed(strategy):
        return tf.function(model.train_step, jit_compile=jit_compile or None)

    @tf.function
    def count_non_finite(batch):
        bad = strategy.run(lambda b: 1.0 - tf.cast(_inputs_finite(b), tf.float32), args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None)

    @tf.function
    def replicated_step(batch):
        return first_replica(strategy, strategy.run(model.train_step, args=(batch,)))

    def distributed_step(batch):
        # Decided on the host: collectives (batch-norm statistics, gradient
        # all-reduce) inside a graph-level tf.cond can be issued in a
        # different order on different replicas and abort.
        if float(count_non_finite(batch)) > 0:
            values = {name: tf.constant(float("nan")) for name in model.loss_names}
            values["finite"] = tf.constant(False)
            return values
        return replicated_step(batch)

    return distributed_step


def distribute_batches(strategy, dataset):
    """An iterator over `dataset`'s global batches, split over the replicas."""
    if not _is_distributed(strategy):
        return iter(dataset)
    return iter(strategy.experimental_distribute_dataset(dataset))
