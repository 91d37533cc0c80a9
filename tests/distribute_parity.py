"""One DAMSM step and one GAN step on one device and under MirroredStrategy.

Run as a script (`python tests/distribute_parity.py`): the CPU must be split
into two logical devices before TensorFlow initialises, which a pytest
process that has already run other tests cannot do. Prints one JSON object
with, per model and optimizer, the losses of both runs and how far their
weight updates differ. `test_distribute.py` runs it and checks the numbers.

Two optimizers: the training's Adam, and SGD. Adam's first step moves each
weight by about lr * sign(gradient), so a gradient that is zero up to
float noise may move either way; SGD's update is proportional to the
gradient and shows how closely the gradients agree. For the DAMSM it also
runs one device on the batch in reverse order (the same step in exact
arithmetic): the float noise floor the mirrored differences are judged by.
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

import model_fixtures  # noqa: E402
from fashion_t2i import distribute  # noqa: E402
from fashion_t2i import train_lib  # noqa: E402
from fashion_t2i.config import RuntimeConfig  # noqa: E402

GLOBAL_BATCH = 4
REPLICAS = 2


def config():
    # Two examples share a content id, so the negative masking of the
    # similarity loss crosses the replica boundary.
    return model_fixtures.smoke_config(batch_size=GLOBAL_BATCH)


def batch_of(cfg):
    batch = model_fixtures.fake_batch(cfg, seed=3)
    batch["content_id"] = tf.constant([0, 1, 2, 0], tf.int64)
    return batch


SGD_LEARNING_RATE = 0.01


def build(kind, optimizer, cfg, strategy, weights=None):
    """The model of `kind` built in `strategy`'s scope, with `weights` if given."""
    with strategy.scope():
        keras.utils.set_random_seed(0)
        damsm = train_lib.build_damsm(cfg, model_fixtures.VOCABULARY_SIZE)
        if kind == "damsm":
            if optimizer == "sgd":
                damsm_optimizer = keras.optimizers.SGD(SGD_LEARNING_RATE)
            else:
                damsm_optimizer = train_lib.make_optimizer(cfg, cfg.train.damsm_learning_rate)
            damsm.compile(optimizer=damsm_optimizer)
            damsm_optimizer.build(damsm.trainable_variables)
            model = damsm
        else:
            model = train_lib.build_gan(cfg, damsm)
            if optimizer == "sgd":
                model.compile(
                    generator_optimizer=keras.optimizers.SGD(SGD_LEARNING_RATE),
                    discriminator_optimizers=[
                        keras.optimizers.SGD(SGD_LEARNING_RATE) for _ in model.discriminators
                    ],
                )
                model.build_all(cfg.data.batch_size, cfg.text.max_words)
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


def compare(reference, other, initial):
    """How far `other`'s weight updates are from `reference`'s (both from `initial`).

    Per variable: the largest difference of the two updates relative to the
    largest reference update (absolute when the variable did not move).
    """
    relative, absolute, differing, total = [], [], 0, 0
    for a, b, start in zip(reference.weights, other.weights, initial):
        if not start.size:
            continue
        update = a.numpy() - start
        difference = np.abs(update - (b.numpy() - start))
        scale = np.max(np.abs(update))
        worst = float(np.max(difference))
        relative.append((float(worst / scale) if scale > 0 else worst, worst, a.path))
        absolute.append(worst)
        differing += int(np.sum(difference > 1e-6))
        total += difference.size
    relative.sort(reverse=True)
    return {
        "max_relative_update_difference": relative[0][0],
        "median_relative_update_difference": float(np.median([r[0] for r in relative])),
        "worst_variables": relative[:3],
        "max_update_difference": float(max(absolute)),
        "fraction_differing": differing / total,
    }


def reordered(batch):
    """`batch` with its examples in reverse order: the same DAMSM step in exact
    arithmetic (every loss term is symmetric in the examples), other float
    reduction orders."""
    return tf.nest.map_structure(lambda t: tf.reverse(t, [0]), batch)


def run(kind, optimizer, mirrored):
    cfg = config()
    batch = batch_of(cfg)
    one_device = tf.distribute.get_strategy()
    single = build(kind, optimizer, cfg, one_device)
    initial = [np.array(w.numpy()) for w in single.weights]
    single_losses = distribute.step_function(one_device, single)(batch)

    replicated = build(kind, optimizer, cfg, mirrored, initial)
    mirrored_losses = distribute.step_function(mirrored, replicated)(distributed(mirrored, batch))

    names = list(single.loss_names)
    if optimizer == "sgd":
        learning_rate = SGD_LEARNING_RATE
    elif kind == "damsm":
        learning_rate = cfg.train.damsm_learning_rate
    else:
        learning_rate = max(
            cfg.train.generator_learning_rate, cfg.train.discriminator_learning_rate
        )
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        "learning_rate": learning_rate,
        "single": {n: float(single_losses[n]) for n in names},
        "mirrored": {n: float(mirrored_losses[n]) for n in names},
        "finite": [bool(single_losses["finite"]), bool(mirrored_losses["finite"])],
        "moved": bool(
            max(float(np.max(np.abs(a.numpy() - s))) for a, s in zip(single.weights, initial)
                if s.size) > 0
        ),
    }
    result.update(compare(single, replicated, initial))
    if kind == "damsm":
        # The float noise floor: one device, the batch in another order. (Not
        # for the GAN, whose noise is drawn per example position.)
        again = build(kind, optimizer, cfg, one_device, initial)
        again_losses = distribute.step_function(one_device, again)(reordered(batch))
        result["reordered"] = {n: float(again_losses[n]) for n in names}
        result["noise_floor"] = compare(single, again, initial)
    return result


def main():
    # Without it, two one-device runs of the DAMSM step already differ (the
    # from-scratch image encoder amplifies the order of float reductions).
    tf.config.experimental.enable_op_determinism()
    distribute.configure(RuntimeConfig(num_cpu_devices=REPLICAS))
    # One strategy per process: two MirroredStrategy objects would reuse
    # collective instance keys.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    kinds = sys.argv[1:] or ("damsm", "gan")
    results = {
        f"{kind}/{optimizer}": run(kind, optimizer, mirrored)
        for kind in kinds
        for optimizer in ("adam", "sgd")
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
