"""Training survives being killed, stopped and fed NaNs; bad workdirs fail clearly.

The subprocess tests run `python -m fashion_t2i.train` on the smoke preset's
DAMSM phase and read its progress lines as they are printed, so a signal can
be sent at a known point (right after a checkpoint line, right after a step
line). After every interruption the `checkpoint` index file must point at a
complete checkpoint, and re-running the same command must resume from it.
The NaN tests drive `TrainingLoop` in-process with a fake step function,
since no flag injects a non-finite loss.
"""

import glob
import itertools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i import run_context
from fashion_t2i.config import get_preset
from fashion_t2i.training_loop import NonFiniteLossError
from fashion_t2i.training_loop import TrainingLoop

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seconds one smoke-preset process may take (TF import, model build, 6 steps).
PROCESS_TIMEOUT = 300
DAMSM_STEPS = 6
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def _env():
    return dict(os.environ, PYTHONPATH=ROOT)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The smoke preset's Fashion-MNIST data, built once for the module."""
    out_dir = str(tmp_path_factory.mktemp("reliability") / "data")
    smoke = get_preset("smoke").data
    subprocess.run(
        [
            sys.executable, "-m", "fashion_t2i.data.build_fashion_mnist", "--out_dir", out_dir,
            "--size", str(smoke.fashion_mnist_size),
            "--train_limit", str(smoke.fashion_mnist_train_limit),
            "--validation_limit", str(smoke.fashion_mnist_validation_limit),
            "--seed", str(smoke.seed),
        ],
        cwd=ROOT, env=_env(), check=True, capture_output=True, timeout=PROCESS_TIMEOUT,
    )
    return out_dir


def train_args(workdir, data_dir, **flags):
    """The DAMSM-phase smoke command of these tests; `flags` override its flags."""
    values = {
        "preset": "smoke", "workdir": workdir, "data_dir": data_dir, "phase": "damsm",
        "damsm_steps": DAMSM_STEPS, "checkpoint_every": 1, "log_every": 1,
        "eval_every": 0, "image_every": 0,
    }
    values.update(flags)
    return [f"--{name}={value}" for name, value in values.items()]


class TrainProcess:
    """`python -m fashion_t2i.train` with stdout and stderr read line by line.

    A thread moves lines into a queue, so every wait has a deadline even when
    the process hangs without printing.
    """

    def __init__(self, args):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fashion_t2i.train", *args],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=PROCESS_TIMEOUT):
        """Reads lines until one matches `pattern`; returns its match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s:\n{self.output}")
            if line is None:
                raise AssertionError(
                    f"exited ({self.process.wait()}) before a line matching {pattern!r}:\n"
                    f"{self.output}"
                )
            self.lines.append(line)
            match = regex.search(line)
            if match:
                return match

    def finish(self, timeout=PROCESS_TIMEOUT):
        """Waits for the exit and reads the rest of the output; returns the exit code."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout}s:\n{self.output}")
        self._reader.join(timeout=30)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        return code

    def kill(self):
        """SIGKILL; returns the exit code once the output is drained."""
        if self.process.poll() is None:
            self.process.kill()
        return self.finish()


@pytest.fixture
def processes():
    """Starts `TrainProcess`es and kills any still running when the test ends."""
    started = []

    def start(args):
        started.append(TrainProcess(args))
        return started[-1]

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def complete_latest_checkpoint(directory):
    """The step of the checkpoint the index file points at, checking its files are whole.

    The `.index` file and every `.data-*` shard it names must exist, and the
    checkpoint must read back with a step counter equal to its number.
    """
    latest = tf.train.latest_checkpoint(directory)
    assert latest is not None, f"no checkpoint index in {directory}: {os.listdir(directory)}"
    assert os.path.exists(latest + ".index"), f"{latest}.index is missing"
    shards = glob.glob(latest + ".data-*")
    assert shards, f"{latest} has no .data-* files"
    total = int(shards[0].rsplit("-of-", 1)[1])
    assert len(shards) == total, f"{latest} has {len(shards)} of {total} data shards"
    number = int(latest.rsplit("ckpt-", 1)[1])
    assert tf.train.load_checkpoint(latest).get_tensor(STEP_KEY) == number
    return number


def printed_steps(lines, kind):
    """Steps of the `[damsm] step k/N` (kind "step") or `[damsm] checkpoint ...ckpt-k` lines."""
    pattern = r"\[damsm\] step (\d+)/" if kind == "step" else r"\[damsm\] checkpoint .*ckpt-(\d+)$"
    return [int(m.group(1)) for m in map(re.compile(pattern).search, lines) if m]


def assert_killed_state_is_consistent(process, directory):
    """After SIGKILL: the latest checkpoint is whole and lies between what was printed.

    A step's progress line is printed before its checkpoint is written and the
    checkpoint line after, so the latest checkpoint is at least the last one
    reported and at most the last step reported.
    """
    latest = complete_latest_checkpoint(directory)
    saved = max(printed_steps(process.lines, "checkpoint"), default=0)
    reached = max(printed_steps(process.lines, "step"), default=0)
    assert saved <= latest <= reached, (saved, latest, reached, process.output)
    return latest


def test_sigkill_at_any_point_resumes_from_the_last_complete_checkpoint(
    tmp_path, data_dir, processes
):
    workdir = str(tmp_path / "run")
    checkpoints = os.path.join(workdir, "damsm")
    args = train_args(workdir, data_dir)

    # 1. Killed right after the second checkpoint was reported.
    first = processes(args)
    first.wait_for(r"\[damsm\] checkpoint .*ckpt-2$")
    assert first.kill() == -signal.SIGKILL
    after_first = assert_killed_state_is_consistent(first, checkpoints)

    # 2. The same command resumes there; killed right after step 4's progress
    # line, before (or while) its checkpoint is written.
    second = processes(args)
    resumed = second.wait_for(r"\[damsm\] resumed from (\S+) at step (\d+)")
    assert resumed.group(1).endswith(f"ckpt-{after_first}")
    assert int(resumed.group(2)) == after_first
    second.wait_for(rf"\[damsm\] step 4/{DAMSM_STEPS}")
    assert second.kill() == -signal.SIGKILL
    after_second = assert_killed_state_is_consistent(second, checkpoints)
    assert after_second >= 3

    # 3. The same command again runs to the end.
    third = processes(args)
    assert third.finish() == 0, third.output
    assert "is up to date, not rebuilding" in third.output  # the shared data fits the preset
    assert f"resumed from {checkpoints}/ckpt-{after_second} at step {after_second}" in third.output
    assert printed_steps(third.lines, "step")[0] == after_second + 1
    assert f"[damsm] step {DAMSM_STEPS}/{DAMSM_STEPS}" in third.output
    assert tf.train.latest_checkpoint(checkpoints).endswith(f"ckpt-{DAMSM_STEPS}")
    assert complete_latest_checkpoint(checkpoints) == DAMSM_STEPS


def test_sigterm_saves_the_step_reached_and_exits_cleanly(tmp_path, data_dir, processes):
    workdir = str(tmp_path / "run")
    checkpoints = os.path.join(workdir, "damsm")
    # No periodic checkpoint before the end: the one found afterwards can only
    # be the one written on the signal.
    args = train_args(workdir, data_dir, checkpoint_every=100)

    first = processes(args)
    first.wait_for(rf"\[damsm\] step 2/{DAMSM_STEPS}")
    first.process.send_signal(signal.SIGTERM)
    assert first.finish() == 0, first.output
    stopped = re.search(r"\[damsm\] stopped by signal (\d+) at step (\d+)", first.output)
    assert stopped, first.output
    assert int(stopped.group(1)) == signal.SIGTERM
    step = int(stopped.group(2))
    assert 2 <= step < DAMSM_STEPS
    assert complete_latest_checkpoint(checkpoints) == step
    assert "Traceback" not in first.output

    second = processes(args)
    assert second.finish() == 0, second.output
    assert f"resumed from {checkpoints}/ckpt-{step} at step {step}" in second.output
    assert printed_steps(second.lines, "step") == list(range(step + 1, DAMSM_STEPS + 1))
    assert complete_latest_checkpoint(checkpoints) == DAMSM_STEPS


def test_unwritable_workdir_fails_with_a_message_naming_it(tmp_path, data_dir):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    workdir = str(blocker / "run")

    result = subprocess.run(
        [sys.executable, "-m", "fashion_t2i.train", *train_args(workdir, data_dir)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )

    assert result.returncode != 0
    assert f"Cannot write to workdir {workdir}" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a directory"


def test_workdir_that_is_a_file_is_refused_before_training(tmp_path):
    workdir = tmp_path / "run"
    workdir.write_text("a file where the workdir should be")

    with pytest.raises(PermissionError, match=f"Cannot write to workdir {re.escape(str(workdir))}"):
        run_context.check_workdir(get_preset("smoke"), str(workdir))


# NaN policy: TrainingLoop driven in-process with a fake step function.


def fake_loop(directory, steps, on_nan, log_every=1, checkpoint_every=1, **loop_args):
    """A `TrainingLoop` over scripted steps, and the lines it logs.

    `steps[k]` scripts step k + 1 (so a resumed loop picks up the script where
    the checkpoint left it): a loss, or `(loss, finite)` for a step that
    reports `finite` itself. Like a real step whose update went wrong, a step
    run under on_nan="stop" writes its loss into `weight` even when it is NaN;
    under on_nan="skip" it honours the contract and leaves `weight` alone.
    `loop_args` go to `TrainingLoop` (hooks, learning_rates).
    """
    weight = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), weight=weight)

    def step_fn(batch):
        entry = steps[int(checkpoint.step.numpy())]
        loss, finite = entry if isinstance(entry, tuple) else (entry, True)
        finite = finite and np.isfinite(loss)
        if finite or on_nan == "stop":
            weight.assign(loss)
        return {"loss": tf.constant(loss, tf.float32), "finite": tf.constant(finite)}

    lines = []
    loop = TrainingLoop(
        "fake", step_fn, checkpoint, str(directory), total_steps=len(steps),
        checkpoint_every=checkpoint_every, log_every=log_every, on_nan=on_nan,
        log_fn=lines.append, **loop_args,
    )
    return loop, lines


def batches(start_step):
    return itertools.repeat({})


def read_checkpoint(path):
    reader = tf.train.load_checkpoint(path)
    return reader.get_tensor(STEP_KEY), reader.get_tensor("weight/.ATTRIBUTES/VARIABLE_VALUE")


@pytest.mark.parametrize("bad_step", [float("nan"), float("inf"), (2.5, False)],
                         ids=["nan loss", "inf loss", "finite=False"])
def test_on_nan_stop_raises_and_keeps_the_last_good_checkpoint(tmp_path, bad_step):
    loop, _ = fake_loop(tmp_path, [1.0, 2.0, bad_step, 4.0, 5.0], on_nan="stop")

    with pytest.raises(NonFiniteLossError, match=r"\[fake\] non-finite loss at step 3") as raised:
        loop.run(batches)

    good = os.path.join(str(tmp_path), "fake", "ckpt-2")
    message = str(raised.value)
    assert "at step 3" in message and f"The last good checkpoint is {good}." in message
    assert tf.train.latest_checkpoint(os.path.join(str(tmp_path), "fake")) == good
    assert not glob.glob(os.path.join(str(tmp_path), "fake", "ckpt-3*"))
    step, weight = read_checkpoint(good)
    assert step == 2 and weight == 2.0

    # Re-running (after lowering the learning rate, say) resumes from it.
    resumed, resumed_lines = fake_loop(tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], on_nan="stop")
    resumed.run(batches)
    assert resumed_lines[0] == f"[fake] resumed from {good} at step 2"
    assert read_checkpoint(os.path.join(str(tmp_path), "fake", "ckpt-5")) == (5, 5.0)


def test_on_nan_stop_before_any_checkpoint_leaves_none(tmp_path):
    loop, _ = fake_loop(tmp_path, [float("nan"), 1.0], on_nan="stop")

    with pytest.raises(NonFiniteLossError, match="at step 1"):
        loop.run(batches)

    assert tf.train.latest_checkpoint(os.path.join(str(tmp_path), "fake")) is None


def test_on_nan_stop_before_any_checkpoint_says_there_is_none(tmp_path):
    loop, _ = fake_loop(tmp_path, [float("nan"), 1.0], on_nan="stop")

    with pytest.raises(NonFiniteLossError, match="No checkpoint was saved yet in") as raised:
        loop.run(batches)

    # Not "The last good checkpoint is None.": the user should read that
    # nothing was saved yet, not a Python value.
    assert "checkpoint is None" not in str(raised.value), str(raised.value)


@pytest.mark.parametrize("bad_step", [float("nan"), (100.0, False)], ids=["nan loss", "finite=False"])
def test_on_nan_skip_counts_the_step_and_leaves_it_out_of_the_means(tmp_path, bad_step):
    loop, lines = fake_loop(tmp_path, [1.0, 2.0, bad_step, 3.0], on_nan="skip", log_every=4)

    summary = loop.run(batches)

    assert loop.skipped_steps == 1
    assert "[fake] skipped a non-finite step (1 so far)" in lines
    # Mean of the three good steps, not (1 + 2 + bad + 3) / 4.
    assert summary == {"loss": 2.0, "stopped_by_signal": False}
    (progress,) = [line for line in lines if line.startswith("[fake] step ")]
    assert progress.startswith("[fake] step 4/4  loss 2.0000  ")
    latest = tf.train.latest_checkpoint(os.path.join(str(tmp_path), "fake"))
    assert latest.endswith("ckpt-4")
    assert read_checkpoint(latest) == (4, 3.0)


# Errors after a step (evaluation, summaries, hooks): the step reached is saved first.


def fail_at(step_to_fail, message):
    """A hook, or a learning-rate callable, that raises at one step."""
    calls = []

    def fn(step=None, writer=None):
        calls.append(step)
        if len(calls) == step_to_fail:
            raise RuntimeError(message)
        return 0.1

    return fn


def test_hook_error_saves_the_step_reached_and_the_rerun_resumes_there(tmp_path):
    directory = os.path.join(str(tmp_path), "fake")
    # No periodic checkpoint: the one found afterwards was written on the error.
    loop, lines = fake_loop(
        tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], on_nan="stop", checkpoint_every=100,
        hooks=[(1, fail_at(3, "evaluation broke"))],
    )

    with pytest.raises(RuntimeError, match="evaluation broke"):
        loop.run(batches)

    latest = tf.train.latest_checkpoint(directory)
    assert latest == os.path.join(directory, "ckpt-3")
    assert read_checkpoint(latest) == (3, 3.0)
    assert "[fake] RuntimeError after step 3: evaluation broke" in lines
    assert lines[-1] == f"[fake] checkpoint {latest}"

    resumed, resumed_lines = fake_loop(
        tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], on_nan="stop", checkpoint_every=100
    )
    resumed.run(batches)
    assert resumed_lines[0] == f"[fake] resumed from {latest} at step 3"
    assert read_checkpoint(tf.train.latest_checkpoint(directory)) == (5, 5.0)


def test_summary_error_saves_the_step_reached(tmp_path):
    directory = os.path.join(str(tmp_path), "fake")
    loop, lines = fake_loop(
        tmp_path, [1.0, 2.0, 3.0, 4.0], on_nan="stop", checkpoint_every=100,
        learning_rates={"broken": fail_at(2, "no learning rate to log")},
    )

    with pytest.raises(RuntimeError, match="no learning rate to log"):
        loop.run(batches)

    assert read_checkpoint(tf.train.latest_checkpoint(directory)) == (2, 2.0)
    assert "[fake] RuntimeError after step 2: no learning rate to log" in lines


def test_final_step_is_saved_before_the_final_hooks_and_summaries(tmp_path):
    directory = os.path.join(str(tmp_path), "fake")
    seen = []

    def final_hook(step, writer):
        seen.append((step, tf.train.latest_checkpoint(directory)))
        raise RuntimeError("the final evaluation broke")

    loop, lines = fake_loop(
        tmp_path, [1.0, 2.0, 3.0], on_nan="stop", checkpoint_every=100,
        hooks=[(100, final_hook)],
    )

    with pytest.raises(RuntimeError, match="the final evaluation broke"):
        loop.run(batches)

    assert seen == [(3, os.path.join(directory, "ckpt-3"))]
    # Saved once, before the hook: the error found it saved.
    assert [line for line in lines if " checkpoint " in line] == [
        f"[fake] checkpoint {os.path.join(directory, 'ckpt-3')}"
    ]


def slow_evaluation_hook(seconds):
    """A hook factory whose hook sleeps `seconds`: its time is logged under this name."""

    def hook(step, writer):
        time.sleep(seconds)

    return hook


def test_the_end_of_a_run_says_where_its_wall_time_went(tmp_path):
    loop, lines = fake_loop(
        tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], on_nan="stop", checkpoint_every=2,
        hooks=[(2, slow_evaluation_hook(0.3))],
    )
    loop.total_steps = 4
    loop.run(batches)

    # The hook ran at steps 2 and 4; the checkpoints were written at the same steps.
    assert loop.time_spent["slow_evaluation_hook"] == pytest.approx(0.6, abs=0.2)
    assert set(loop.time_spent) == {"steps", "checkpoints", "summaries", "slow_evaluation_hook"}
    match = re.fullmatch(r"\[fake\] 4 steps in \d+ s: slow_evaluation_hook 1 s, .*", lines[-1])
    assert match, lines[-1]
    # Run on to step 6, the same loop counts the time of that run only (one hook call).
    loop.total_steps = 6
    loop.run(batches)
    assert loop.time_spent["slow_evaluation_hook"] == pytest.approx(0.3, abs=0.1)
    assert re.fullmatch(r"\[fake\] 2 steps in \d+ s: .*", lines[-1]), lines[-1]
    # Resumed at its end, the loop trains no step and says so, not where time went.
    loop, lines = fake_loop(tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], on_nan="stop")
    loop.run(batches)
    assert lines[-1] == "[fake] already at step 6 >= 6"
