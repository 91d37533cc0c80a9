"""One DAMSM step and one GAN step on one device and under MirroredStrategy.

Run as a script (`python tests/distribute_parity.py`): the CPU must be split
into two logical devices before TensorFlow initialises, which a pytest
process that has already run other tests cannot do. Prints one JSON object
that `test_distribute.py` checks.

Every step is one plain SGD step (update = -lr * gradient, so the updates
show the gradients themselves; Adam's first step, about lr * sign(g), would
hide a gradient scaled by the wrong factor) with deterministic ops, on the
same global batch of 4: one device sees all of it, each of the 2 replicas
half. Three runs: the DAMSM, the GAN, and the GAN with `hard_mismatch`.
What it measures:

- the losses and the weight updates of both runs;
- the DAMSM update against -lr times the gradient of the global loss taken
  by hand on one device (a `GradientTape` around `compute_losses`);
- the per-replica gradients of `for_gradient(loss)`, summed here in numpy
  (the reduction the optimizer's all-reduce does), against that gradient.

The image encoder is a stand-in (`TinyImageEncoder`, one convolution with
batch normalisation) instead of InceptionV3: what is under test is the
replica plumbing of `fashion_t2i.distribute` and of the train steps, and a
from-scratch InceptionV3 on a batch of 4 turns float round-off into large
gradient differences (and takes minutes to trace twice). Its batch
normalisation runs in training mode in the DAMSM step, so a replica that
normalised by its own half of the batch would show.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# As in the pytest processes (tests/conftest.py): six steps traced and run
# once each, where Grappler's rewrites cost more than they save.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

import model_fixtures  # noqa: E402
from fashion_t2i import distribute  # noqa: E402
from fashion_t2i import networks  # noqa: E402
from fashion_t2i.config import RuntimeConfig  # noqa: E402
from fashion_t2i.models.attn_gan import AttnGAN  # noqa: E402
from fashion_t2i.models.damsm import DAMSM  # noqa: E402

GLOBAL_BATCH = 4
REPLICAS = 2
LEARNING_RATE = 0.1


class TinyImageEncoder(keras.layers.Layer):
    """Stand-in for `ImageEncoder`: (region_features [B, N, D], global_feature [B, D])."""

    def __init__(self, joint_dim, **kwargs):
        super().__init__(**kwargs)
        self.joint_dim = joint_dim
        # No bias before the normalisation: its exact gradient is 0.
        self.conv = keras.layers.Conv2D(8, 3, strides=4, padding="same", use_bias=False, name="conv")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.region_projection = keras.layers.Conv2D(joint_dim, 1, name="region_projection")
        self.global_projection = keras.layers.Dense(joint_dim, name="global_projection")

    def call(self, images, training=False):
        x = keras.activations.relu(self.norm(self.conv(images), training=training))
        regions = self.region_projection(x)
        batch = tf.shape(regions)[0]
        region_features = tf.reshape(regions, [batch, -1, self.joint_dim])
        return region_features, self.global_projection(tf.reduce_mean(x, axis=[1, 2]))


def config():
    return model_fixtures.smoke_config(batch_size=GLOBAL_BATCH)


def batch_of(cfg):
    batch = model_fixtures.fake_batch(cfg, seed=3)
    # Two examples share a content id, so the negative masking of the
    # similarity loss crosses the replica boundary.
    batch["content_id"] = tf.constant([0, 1, 2, 0], tf.int64)
    return batch


def build_damsm(cfg):
    model = cfg.model
    damsm = DAMSM(
        networks.text_encoder(model, model_fixtures.VOCABULARY_SIZE),
        TinyImageEncoder(model.joint_dim, name="image_encoder"),
        gamma1=model.gamma1,
        gamma2=model.gamma2,
        gamma3=model.gamma3,
        similarity="both",
        name="damsm",
    )
    size = model.stage_sizes[-1]
    damsm({"images": tf.zeros([1, size, size, 3]), "token_ids": tf.ones([1, cfg.text.max_words], tf.int32)})
    return damsm


def build(kind, cfg, strategy, weights=None):
    """The model of `kind` with SGD, built in `strategy`'s scope, with `weights` if given."""
    with strategy.scope():
        keras.utils.set_random_seed(0)
        damsm = build_damsm(cfg)
        if kind == "damsm":
            optimizer = keras.optimizers.SGD(LEARNING_RATE)
            damsm.compile(optimizer=optimizer)
            optimizer.build(damsm.trainable_variables)
            model = damsm
        else:
            generator = networks.generator(cfg.model)
            discriminators = networks.discriminators(cfg.model)
            model = AttnGAN(
                generator,
                discriminators,
                damsm.text_encoder,
                damsm.image_encoder,
                hard_mismatch=kind == "gan_hard_mismatch",
                similarity="both",
                name="attn_gan",
            )
            model.compile(
                generator_optimizer=keras.optimizers.SGD(LEARNING_RATE),
                discriminator_optimizers=[keras.optimizers.SGD(LEARNING_RATE) for _ in discriminators],
            )
            model.build_networks(GLOBAL_BATCH, cfg.text.max_words)
        distribute.synchronize_batch_norm(model)
    if weights is not None:
        for variable, value in zip(model.weights, weights):
            variable.assign(value)
    return model


def distributed(strategy, batch):
    """`batch` split in order: replica r gets examples [r * B/R, (r + 1) * B/R)."""
    local = GLOBAL_BATCH // REPLICAS

    def slice_for(context):
        start = context.replica_id_in_sync_group * local
        return tf.nest.map_structure(lambda t: t[start : start + local], batch)

    return strategy.experimental_distribute_values_from_function(slice_for)


def relative_differences(expected, actual):
    """Per variable: max |expected - actual| / max |expected| (keyed by path)."""
    out = {}
    for path, a, b in zip(expected["paths"], expected["values"], actual["values"]):
        scale = float(np.max(np.abs(a)))
        out[path] = float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(b)))
    return out


def updates(model, initial):
    """Trainable weights' updates of `model` from `initial` (weights as numpy)."""
    trainable = {id(v) for v in model.trainable_weights}
    paths, values = [], []
    for variable, start in zip(model.weights, initial):
        if id(variable) in trainable:
            paths.append(variable.path)
            values.append(variable.numpy() - start)
    return {"paths": paths, "values": values}


def hand_gradient(damsm, batch):
    """d L_similarity(global batch) / d weights on one device, as updates of -lr * g."""
    with tf.GradientTape() as tape:
        loss = damsm.compute_losses(batch, training=True)["similarity_loss"]
    gradients = tape.gradient(loss, damsm.trainable_variables)
    return {
        "paths": [v.path for v in damsm.trainable_variables],
        "values": [-LEARNING_RATE * tf.convert_to_tensor(g).numpy() for g in gradients],
    }


def summed_replica_gradients(damsm, strategy, batch):
    """Each replica's gradient of `for_gradient(L)`, summed over replicas in numpy."""

    @tf.function
    def per_replica(data):
        def gradient(local):
            with tf.GradientTape() as tape:
                loss = damsm.compute_losses(local, training=True)["similarity_loss"]
                scaled = distribute.for_gradient(loss)
            gradients = tape.gradient(scaled, damsm.trainable_variables)
            return [tf.convert_to_tensor(g) for g in gradients]

        return strategy.run(gradient, args=(data,))

    results = per_replica(distributed(strategy, batch))
    summed = [
        sum(r.numpy() for r in strategy.experimental_local_results(g)) for g in results
    ]
    return {
        "paths": [v.path for v in damsm.trainable_variables],
        "values": [-LEARNING_RATE * g for g in summed],
    }


def run(kind, mirrored):
    cfg = config()
    batch = batch_of(cfg)
    one_device = tf.distribute.get_strategy()
    single = build(kind, cfg, one_device)
    initial = [np.array(w.numpy()) for w in single.weights]
    single_losses = distribute.step_function(one_device, single)(batch)
    single_updates = updates(single, initial)

    replicated = build(kind, cfg, mirrored, initial)
    mirrored_losses = distribute.step_function(mirrored, replicated)(distributed(mirrored, batch))
    names = list(single.loss_names)
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        "single": {n: float(single_losses[n]) for n in names},
        "mirrored": {n: float(mirrored_losses[n]) for n in names},
        "finite": [bool(single_losses["finite"]), bool(mirrored_losses["finite"])],
        "largest_update": {
            p: float(np.max(np.abs(u)))
            for p, u in zip(single_updates["paths"], single_updates["values"])
        },
        "mirrored_vs_single": relative_differences(single_updates, updates(replicated, initial)),
    }
    if kind == "damsm":
        by_hand = hand_gradient(build(kind, cfg, one_device, initial), batch)
        result["single_vs_hand"] = relative_differences(by_hand, single_updates)
        result["mirrored_vs_hand"] = relative_differences(by_hand, updates(replicated, initial))
        summed = summed_replica_gradients(build(kind, cfg, mirrored, initial), mirrored, batch)
        result["summed_replicas_vs_hand"] = relative_differences(by_hand, summed)
    return result


def main():
    tf.config.experimental.enable_op_determinism()
    distribute.configure(RuntimeConfig(num_cpu_devices=REPLICAS))
    # One strategy per process: two MirroredStrategy objects would reuse
    # collective instance keys.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    kinds = sys.argv[1:] or ("damsm", "gan", "gan_hard_mismatch")
    print(json.dumps({kind: run(kind, mirrored) for kind in kinds}))


if __name__ == "__main__":
    main()
