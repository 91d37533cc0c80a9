"""The step loop shared by both training phases: checkpoints, logs, signals, NaN policy."""

import contextlib
import os
import signal
import time

import numpy as np
import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i.progress import log


def hook_name(hook):
    """The name a hook's time is logged under: its factory's name for a closure."""
    name = getattr(hook, "__qualname__", None) or type(hook).__name__
    return name.split(".<locals>", 1)[0]


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite."""


class TrainingLoop:
    """Runs a compiled step function to `total_steps`, resumably.

    A checkpoint (model variables, optimizer state, EMA, step counter) is
    written every `checkpoint_every` steps, at the end, and when SIGTERM or
    SIGINT arrives (the loop then stops cleanly after the current step).

    Nothing trained is lost on an error after a step. Each step runs in
    this order: the training step, its progress line, the checkpoint when
    one is due (always at the last step), then the TensorBoard scalars and
    the hooks. So the final step is saved before the final evaluation runs,
    and when the scalars or a hook raise, the step reached is saved first
    (if it is not yet) and the exception then ends training: a failing
    evaluation is reported, not ignored, and re-running the command resumes
    at that step. A failing training step is not saved (its update may be
    half applied); neither is a non-finite loss under `on_nan="stop"`.
    TensorFlow writes the checkpoint files first and the `checkpoint` index
    file last, by rename, so a crash mid-write leaves the previous
    checkpoint as the latest one. On start the latest checkpoint is
    restored, so re-running the same command resumes at the same step.

    Args:
        name: phase name, used in messages and as the log/checkpoint folder.
        step_fn: `step_fn(batch) -> dict of scalar tensors`. Must return
            `"finite"` (bool) when `on_nan="skip"` is to be honoured; the
            step then must not have applied a non-finite update.
        checkpoint: a `tf.train.Checkpoint` of everything to save; must hold
            a `step` int64 variable.
        directory: the workdir; checkpoints go to `<directory>/<name>`,
            TensorBoard logs to `<directory>/logs/<name>`.
        total_steps: the step at which training stops.
        checkpoint_every, log_every: in steps.
        max_checkpoints: checkpoints kept.
        on_nan: "stop" raises `NonFiniteLossError` at the first non-finite
            loss, without saving (the last good checkpoint stays the
            latest); "skip" counts the step as skipped and goes on.
        hooks: list of `(every, fn)`; `fn(step, writer)` runs every `every`
            steps and at the end (evaluation, image summaries).
        learning_rates: dict name -> callable returning the current rate,
            logged with the scalars.
        log_fn: progress printer.
    """

    def __init__(
        self,
        name,
        step_fn,
        checkpoint,
        directory,
        total_steps,
        checkpoint_every,
        log_every,
        max_checkpoints=3,
        on_nan="stop",
        hooks=(),
        learning_rates=None,
        log_fn=log,
    ):
        self.name = name
        self.step_fn = step_fn
        self.checkpoint = checkpoint
        self.total_steps = int(total_steps)
        self.checkpoint_every = int(checkpoint_every)
        self.log_every = int(log_every)
        self.on_nan = on_nan
        self.hooks = list(hooks)
        self.learning_rates = learning_rates or {}
        self.log_fn = log_fn
        self.manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(directory, name), max_to_keep=max_checkpoints
        )
        self.writer = tf.summary.create_file_writer(os.path.join(directory, "logs", name))
        self.skipped_steps = 0
        # Wall time of the last `run` by part: "steps" (input and training
        # step), "checkpoints", "summaries" and each hook by name.
        self.time_spent = {}
        self._stop_signal = None

    @property
    def step(self):
        return int(self.checkpoint.step.numpy())

    def restore(self):
        """Restores the latest checkpoint; returns the step reached (0 if none)."""
        latest = self.manager.latest_checkpoint
        if latest:
            checkpointing.restore(self.checkpoint, latest)
            self.log_fn(f"[{self.name}] resumed from {latest} at step {self.step}")
        return self.step

    def save(self):
        path = self.manager.save(checkpoint_number=self.step)
        self.log_fn(f"[{self.name}] checkpoint {path}")
        return path

    def _saved_step(self):
        latest = self.manager.latest_checkpoint
        return int(latest.rsplit("-", 1)[-1]) if latest else None

    def _on_signal(self, signum, frame):
        self._stop_signal = signum

    def run(self, make_batches):
        """Restores the latest checkpoint and trains on to `total_steps`.

        Args:
            make_batches: `make_batches(start_step)` returns an endless
                iterator of batches. The start step lets a resumed run draw
                a different shuffle than the interrupted one.

        Returns:
            The dict of mean losses of the last logging window, with
            `"stopped_by_signal"`.
        """
        self.restore()
        if self.step >= self.total_steps:
            self.log_fn(f"[{self.name}] already at step {self.step} >= {self.total_steps}")
            return {"stopped_by_signal": False}
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self._run(make_batches(self.step))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, batches):
        window = {}
        window_steps = 0
        start_time = time.time()
        start_step = self.step
        summary = {}
        self.time_spent = {}
        while self.step < self.total_steps and self._stop_signal is None:
            with self._timed("steps"):
                values = self.step_fn(next(batches))
                values = {k: float(v) for k, v in values.items()}
            finite = bool(values.pop("finite", True)) and all(
                np.isfinite(v) for v in values.values()
            )
            if not finite:
                if self.on_nan == "stop":
                    latest = self.manager.latest_checkpoint
                    where = (
                        f"The last good checkpoint is {latest}."
                        if latest
                        else f"No checkpoint was saved yet in {self.manager.directory}."
                    )
                    raise NonFiniteLossError(
                        f"[{self.name}] non-finite loss at step {self.step + 1}: {values}. "
                        f"{where} Lower the learning rate, or pass --on_nan=skip to skip "
                        "such batches."
                    )
                self.skipped_steps += 1
                self.log_fn(f"[{self.name}] skipped a non-finite step ({self.skipped_steps} so far)")
            self.checkpoint.step.assign_add(1)
            step = self.step
            if finite:
                for k, v in values.items():
                    window[k] = window.get(k, 0.0) + v
                window_steps += 1
            try:
                logged = step % self.log_every == 0 or step == self.total_steps
                if logged:
                    summary = {k: v / max(window_steps, 1) for k, v in window.items()}
                    self._log(step, summary, start_step, start_time)
                    window, window_steps = {}, 0
                if step % self.checkpoint_every == 0 or step == self.total_steps:
                    with self._timed("checkpoints"):
                        self.save()
                if logged:
                    with self._timed("summaries"):
                        self._write_scalars(step, summary, start_step, start_time)
                for every, hook in self.hooks:
                    if step % every == 0 or step == self.total_steps:
                        with self._timed(hook_name(hook)):
                            hook(step, self.writer)
            except Exception as error:
                self._save_after(error)
                raise
        if self._saved_step() != self.step:
            self.save()
        stopped = self._stop_signal is not None
        if stopped:
            self.log_fn(f"[{self.name}] stopped by signal {self._stop_signal} at step {self.step}")
        self.writer.flush()
        self.log_fn(self._time_line(self.step - start_step, time.time() - start_time))
        summary["stopped_by_signal"] = stopped
        return summary

    def _save_after(self, error):
        """Saves the step reached, unless it is saved, when `error` follows a step.

        The caller re-raises `error`; a failure to save is logged, not raised
        in its place.
        """
        self.log_fn(f"[{self.name}] {type(error).__name__} after step {self.step}: {error}")
        if self._saved_step() != self.step:
            try:
                self.save()
            except Exception as save_error:
                self.log_fn(f"[{self.name}] could not save step {self.step}: {save_error}")

    @contextlib.contextmanager
    def _timed(self, part):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.time_spent[part] = self.time_spent.get(part, 0.0) + time.perf_counter() - start

    def _time_line(self, steps, seconds):
        """Where the wall time of this run went, largest part first."""
        parts = sorted(self.time_spent.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{part} {spent:.0f} s" for part, spent in parts)
        return f"[{self.name}] {steps} steps in {seconds:.0f} s: {shown}"

    @staticmethod
    def _rate(step, start_step, start_time):
        return (step - start_step) / max(time.time() - start_time, 1e-9)

    def _write_scalars(self, step, summary, start_step, start_time):
        rate = self._rate(step, start_step, start_time)
        with self.writer.as_default(step=step):
            for k, v in summary.items():
                tf.summary.scalar(f"loss/{k}", v)
            for k, fn in self.learning_rates.items():
                # convert_to_tensor also reads a distributed (mirrored) variable.
                tf.summary.scalar(f"learning_rate/{k}", float(tf.convert_to_tensor(fn())))
            tf.summary.scalar("steps_per_second", rate)
            if self.skipped_steps:
                tf.summary.scalar("skipped_steps", self.skipped_steps)

    def _log(self, step, summary, start_step, start_time):
        rate = self._rate(step, start_step, start_time)
        eta = (self.total_steps - step) / max(rate, 1e-9)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(summary.items()))
        self.log_fn(
            f"[{self.name}] step {step}/{self.total_steps}  {shown}  "
            f"({rate:.2f} steps/s, eta {eta / 60:.1f} min)"
        )
