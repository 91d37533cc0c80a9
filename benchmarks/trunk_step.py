"""Speed of one step of the image trunk's pretraining, in float32 or mixed precision.

Times `keras.Model.fit` of `image_trunk.pretraining_model` (the InceptionV3
trunk at the preset's `image_encoder_size` with its attribute heads, Adam, as
`make train` pretrains it) on one random batch of the preset's trunk batch
size, fed again at every step, so the input pipeline is not part of the
time. After a warm-up run (tracing), `--repeats` runs of `--steps` steps are
timed; the median ms/step counts. The float32 matmul peak of the machine is
measured between the runs (`benchmarks.train_step.matmul_timer`).

Sets Keras's global dtype policy for the run and restores it at the end.

Run:
    python -m benchmarks.trunk_step --preset demo [--steps 10] [--repeats 5] \
        [--mixed_precision off|bfloat16|float16] [--batch_size 32]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks.train_step import MATMUL_SIZE  # noqa: E402
from benchmarks.train_step import matmul_timer  # noqa: E402
from fashion_t2i import distribute  # noqa: E402
from fashion_t2i import image_trunk  # noqa: E402
from fashion_t2i.config import PRESETS  # noqa: E402
from fashion_t2i.config import get_preset  # noqa: E402
from fashion_t2i.config.runtime_config import MIXED_PRECISION  # noqa: E402
from fashion_t2i.data.attributes import ATTRIBUTE_HEADS  # noqa: E402


def random_batch(config, seed=0):
    """`(images, {attribute: labels})` of one batch in the pretraining's layout."""
    rng = np.random.default_rng(seed)
    size, batch = config.model.image_encoder_size, config.trunk.batch_size
    images = rng.uniform(-1.0, 1.0, (batch, size, size, 3)).astype("float32")
    labels = {
        name: rng.integers(0, ATTRIBUTE_HEADS[name][1], batch)
        for name in config.trunk.attributes
    }
    return images, labels


def benchmark(preset="demo", steps=10, repeats=5, mixed_precision="off", batch_size=None,
              matmul_size=MATMUL_SIZE, progress=None):
    """Times the trunk's pretraining step; returns the measurements as a dict.

    Raises:
        ValueError: unknown preset or precision, or fewer than one step or repeat.
    """
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps} and {repeats}.")
    log = progress or (lambda line: None)
    # RuntimeConfig checks the precision; distribute.configure sets its policy.
    config = get_preset(preset).replace(runtime={"mixed_precision": mixed_precision})
    if batch_size:
        config = config.replace(trunk={"batch_size": batch_size})
    previous_policy = keras.mixed_precision.global_policy()
    try:
        distribute.configure(config.runtime)
        _, classifier = image_trunk.pretraining_model(config)
        batches = tf.data.Dataset.from_tensors(random_batch(config)).repeat()
        start = time.perf_counter()
        classifier.fit(batches, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
        warmup_seconds = time.perf_counter() - start
        log(f"warm-up done: {warmup_seconds:.1f} s")
        peak = matmul_timer(tf.float32, matmul_size)
        per_step, matmul_seconds = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            classifier.fit(batches, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
            per_step.append((time.perf_counter() - start) / steps)
            matmul_seconds.extend(peak() for _ in range(3))
            log(f"run {len(per_step)}/{repeats}: {1e3 * per_step[-1]:.1f} ms/step")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    seconds = statistics.median(per_step)
    return {
        "preset": preset,
        "mixed_precision": mixed_precision,
        "input_size": config.model.image_encoder_size,
        "batch_size": config.trunk.batch_size,
        "steps": steps,
        "repeats": repeats,
        "warmup_s": warmup_seconds,
        "ms_per_step": 1e3 * seconds,
        "ms_per_step_runs": [1e3 * s for s in per_step],
        "images_per_s": config.trunk.batch_size / seconds,
        "float32_peak_flops_per_s": 2.0 * matmul_size**3 / statistics.median(matmul_seconds),
    }


def report(r):
    """The printed lines of a `benchmark` result."""
    runs = ", ".join(f"{ms:.1f}" for ms in r["ms_per_step_runs"])
    return [
        f"trunk pretraining step: preset {r['preset']}, InceptionV3 at {r['input_size']} px, "
        f"batch {r['batch_size']}, precision {r['mixed_precision']}",
        f"  {r['ms_per_step']:.1f} ms/step (median of {r['repeats']} runs of {r['steps']}: "
        f"{runs}), {r['images_per_s']:.1f} images/s",
        f"  float32 matmul peak: {r['float32_peak_flops_per_s'] / 1e9:.1f} GFLOP/s (median)",
    ]


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.trunk_step`."""
    flags.DEFINE_enum("preset", "demo", sorted(PRESETS), "Config preset.")
    flags.DEFINE_integer("steps", 10, "Steps per timed run.", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed runs (median taken).", lower_bound=1)
    flags.DEFINE_enum("mixed_precision", "off", MIXED_PRECISION, "Compute precision.")
    flags.DEFINE_integer("batch_size", 0, "Batch size; 0: the preset's.", lower_bound=0)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    result = benchmark(
        preset=FLAGS.preset,
        steps=FLAGS.steps,
        repeats=FLAGS.repeats,
        mixed_precision=FLAGS.mixed_precision,
        batch_size=FLAGS.batch_size or None,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print("\n".join(report(result)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
