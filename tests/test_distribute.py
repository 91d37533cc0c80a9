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


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["damsm", "gan"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_mirrored_step_matches_one_device(parity, kind, optimizer):
    result = parity[f"{kind}/{optimizer}"]
    assert result["replicas"] == 2
    assert result["finite"] == [True, True]
    assert result["moved"]
    for name, value in result["single"].items():
        # Same losses: the per-replica means, gathers and synchronised batch
        # norm reproduce the global-batch values.
        assert result["mirrored"][name] == pytest.approx(value, rel=1e-3, abs=1e-5), name
    if kind == "damsm":
        # The from-scratch InceptionV3 on a batch of 4 (its deep batch norms
        # see 4 values per channel) turns float round-off into large gradient
        # differences: one device with the batch in reverse order differs as
        # much. The mirrored step must stay within twice that noise floor.
        floor = result["noise_floor"]
        for key in ("max_relative_update_difference", "median_relative_update_difference"):
            assert result[key] <= max(1e-3, 2 * floor[key]), (key, result[key], floor[key])
        assert result["fraction_differing"] <= max(0.05, 1.5 * floor["fraction_differing"])
        assert result["median_relative_update_difference"] < 1e-2
    elif optimizer == "sgd":
        # Updates proportional to the gradients: the gradients agree.
        assert result["max_relative_update_difference"] < 1e-2, result["worst_variables"]
    else:
        # Adam's first step is about lr * sign(g): a gradient that is zero up
        # to float noise may flip sign, moving a weight by at most 2 lr.
        assert result["fraction_differing"] < 0.05
        assert result["max_update_difference"] <= 2 * result["learning_rate"] + 1e-6
