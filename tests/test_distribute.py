"""tf.distribute plumbing: strategy choice, replica helpers, and one-device parity."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from fashion_t2i import distribute
from fashion_t2i.config import RuntimeConfig

HERE = os.path.dirname(os.path.abspath(__file__))


def test_default_strategy_is_the_current_one():
    strategy = distribute.make_strategy(RuntimeConfig())
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_multi_worker_without_tf_config_raises(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy(RuntimeConfig(strategy="multi_worker"))


@pytest.mark.parametrize("strategy", ["mirrored", "multi_worker"])
def test_jit_compile_with_mirrored_strategies_raises(strategy):
    with pytest.raises(ValueError, match="jit_compile"):
        distribute.make_strategy(RuntimeConfig(strategy=strategy, jit_compile=True))


def test_helpers_are_the_identity_on_one_device():
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert distribute.num_replicas() == 1
    assert distribute.all_gather(x) is x
    assert distribute.mean_over_replicas(x) is x
    assert distribute.for_gradient(x) is x
    assert distribute.replica_slice(x, 1) is x
    assert distribute.global_batch_size(7) == 7
    flag = tf.constant(True)
    assert distribute.all_replicas(flag) is flag


def test_step_function_without_strategy_runs_train_step():
    class Counter:
        loss_names = ("loss",)

        def __init__(self):
            self.steps = tf.Variable(0)

        def train_step(self, batch):
            self.steps.assign_add(1)
            return {"loss": tf.reduce_sum(batch["x"]), "finite": tf.constant(True)}

    model = Counter()
    step = distribute.step_function(tf.distribute.get_strategy(), model)
    assert float(step({"x": tf.constant([1.0, 2.0])})["loss"]) == 3.0
    assert int(model.steps.numpy()) == 1


def run_parity_worker():
    """The parity script's JSON (a fresh process: the CPU split must come first)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [sys.executable, os.path.join(HERE, "distribute_parity.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parity():
    return run_parity_worker()


# Measured float noise (deterministic ops, float32): DAMSM updates agree to
# 1e-6 relative, GAN updates to 3e-5. A gradient reduced with the wrong
# factor (loss not divided by R, MEAN instead of SUM) is off by 50% or 100%,
# a replica that sees only its own half of the batch by far more than 1e-3.
DAMSM_TOLERANCE = 1e-4
GAN_TOLERANCE = 1e-3


def _worst(differences):
    return sorted(differences.items(), key=lambda item: -item[1])[:3]


def _assert_same_step(result, tolerance):
    assert result["replicas"] == 2
    assert result["finite"] == [True, True]
    # Every weight moved, so an update that is lost shows below.
    assert min(result["largest_update"].values()) > 0, result["largest_update"]
    for name, value in result["single"].items():
        assert result["mirrored"][name] == pytest.approx(value, rel=tolerance), name
    worst = _worst(result["mirrored_vs_single"])
    assert worst[0][1] <= tolerance, worst


@pytest.mark.slow
def test_mirrored_damsm_step_matches_one_device(parity):
    _assert_same_step(parity["damsm"], DAMSM_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize(
    "key",
    [
        # The one-device step applies -lr * dL/dw of the global batch...
        "single_vs_hand",
        # ... so does the mirrored step, all-reducing (sum) the replicas' shares ...
        "mirrored_vs_hand",
        # ... which are the gradients of L / R on each replica: all_gather sends
        # each replica its rows of the summed upstream gradient.
        "summed_replicas_vs_hand",
    ],
)
def test_damsm_updates_are_the_hand_reduced_gradient(parity, key):
    worst = _worst(parity["damsm"][key])
    assert worst[0][1] <= DAMSM_TOLERANCE, worst


@pytest.mark.slow
def test_mirrored_gan_step_matches_one_device(parity):
    _assert_same_step(parity["gan"], GAN_TOLERANCE)


@pytest.mark.slow
def test_mirrored_gan_step_with_hard_mismatch_matches_one_device(parity):
    result = parity["gan_hard_mismatch"]
    worst = _worst(result["mirrored_vs_single"])
    assert worst[0][1] <= GAN_TOLERANCE, (
        "With hard_mismatch=True each replica must pick an example's closest mismatched "
        "caption from the global batch, as one device does, not from its own B/R "
        "captions (closest_mismatch needs the gathered sentence features and content "
        f"ids); worst update differences: {worst}"
    )
