"""Multi-worker training: two workers on localhost under `MultiWorkerMirroredStrategy`.

Each worker runs `python -m fashion_t2i.train --strategy=multi_worker` with its
own `TF_CONFIG` task index and its own workdir (as BUILD.md documents), for
two smoke steps of each phase. The weights are synchronous, so both
workers' checkpoints must hold the same values, and the chief's must
restore in a single process without a cluster.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.config import get_preset
from fashion_t2i.run_context import RunContext

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seconds both workers may take together (TF import, cluster start, 2 + 2 steps):
# 126-140 beside another pytest worker on a 2-core machine (2026-12-02; 308-338
# with the evaluations and L_similarity on). A guard against a hung collective,
# not a speed test.
TIMEOUT = 900
STEPS = 2


def free_ports(count):
    """`count` distinct free TCP ports on localhost (held open until all are picked)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The smoke preset's embedded data, built once so the workers do not race to build it."""
    out_dir = str(tmp_path_factory.mktemp("multi_worker") / "data")
    subprocess.run(
        [sys.executable, "-m", "fashion_t2i.data.build_fashion_mnist", "--preset=smoke",
         f"--out_dir={out_dir}"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), check=True, capture_output=True,
        timeout=TIMEOUT,
    )
    return out_dir


@pytest.fixture(scope="module")
def workers(tmp_path_factory, data_dir):
    """Runs the two workers to the end; returns their workdirs and outputs."""
    root = tmp_path_factory.mktemp("workers")
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workdirs = [str(root / f"worker{index}") for index in range(2)]
    processes, logs = [], []
    for index, workdir in enumerate(workdirs):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        # Output to files, not pipes: a worker blocked on a full pipe that nobody
        # reads yet stops in the middle of a collective, and the other waits for it.
        logs.append(open(root / f"worker{index}.log", "w+"))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "fashion_t2i.train", "--preset=smoke",
                 f"--workdir={workdir}", f"--data_dir={data_dir}", "--strategy=multi_worker",
                 f"--damsm_steps={STEPS}", f"--gan_steps={STEPS}",
                 # The synchronous training is under test, not the evaluations or
                 # L_similarity (the tracing of the image encoder's backward pass).
                 "--eval_every=0", "--image_every=0", "--similarity_weight=0"],
                cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CONFIG=json.dumps(tf_config)),
                stdout=logs[-1], stderr=subprocess.STDOUT, text=True,
            )
        )

    def output(index):
        logs[index].flush()
        logs[index].seek(0)
        return logs[index].read()

    try:
        deadline = time.monotonic() + TIMEOUT
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        tails = [output(index)[-3000:] for index in range(len(processes))]
        pytest.fail(f"the workers did not finish in {TIMEOUT} s:\n" + "\n".join(tails))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    outputs = [output(index) for index in range(len(processes))]
    for log in logs:
        log.close()
    for index, (process, output) in enumerate(zip(processes, outputs)):
        assert process.returncode == 0, f"worker {index} failed:\n{output[-4000:]}"
    return {"workdirs": workdirs, "outputs": outputs}


def test_both_workers_train_as_two_replicas_of_one_cluster(workers):
    for output in workers["outputs"]:
        assert "2 replica(s) (multi_worker)" in output
        assert f"[damsm] step {STEPS}/{STEPS}" in output and f"[gan] step {STEPS}/{STEPS}" in output


@pytest.mark.parametrize("phase", ["damsm", "gan"])
def test_both_workers_hold_the_same_weights(workers, phase):
    chief, other = (
        tf.train.latest_checkpoint(os.path.join(workdir, phase)) for workdir in workers["workdirs"]
    )
    assert chief.endswith(f"ckpt-{STEPS}") and other.endswith(f"ckpt-{STEPS}")
    chief, other = tf.train.load_checkpoint(chief), tf.train.load_checkpoint(other)
    names = set(chief.get_variable_to_shape_map())
    assert names == set(other.get_variable_to_shape_map())
    values = [name for name in names if name.endswith("VARIABLE_VALUE")]
    # Every variable: weights, optimizer moments, EMA, batch-norm statistics, step.
    assert len(values) > 50
    for name in values:
        np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name), err_msg=name)
    # Training moved the weights: the equality is not that of two initialisations.
    assert chief.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == STEPS


def test_chief_checkpoint_restores_in_a_single_process(workers):
    chief = workers["workdirs"][0]
    context = RunContext.open(chief)
    assert context.config.runtime.strategy == "multi_worker"
    assert tf.distribute.get_strategy().num_replicas_in_sync == 1
    gan, step = context.restore_gan()
    assert step == STEPS
    size = get_preset("smoke").model.stage_sizes[-1]
    from fashion_t2i.text_to_image import TextToImage

    model = TextToImage.from_workdir(chief)
    images = model.generate(tf.constant(["a red dress"]), tf.constant([3], tf.int64))["images"]
    assert images.shape == (1, size, size, 3)
