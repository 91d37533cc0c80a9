"""Speed of one training step of either phase, against the machine's matmul peak.

Times `model.train_step(batch)` of the DAMSM phase (`DAMSM`, both encoders
trained) or the GAN phase (`AttnGAN`: one D step per stage, one G step,
the EMA update) as training runs it: the runtime settings go through
`fashion_t2i.distribute.configure`, the networks come from
`train_lib.compiled_damsm` / `train_lib.compiled_gan` inside the strategy's scope,
and the step is compiled by `distribute.step_function` (a `tf.function`,
XLA with `--jit_compile`). Nothing is read from disk and nothing is
written: the DAMSM has random weights, and the batch is random data of the
preset's shapes in the input pipeline's layout (`images` per stage in
[-1, 1], `token_ids` / `wrong_token_ids` with zero padding at the end,
`lengths`, `content_id`; `fashion_t2i.fake_data.fake_batch`), built once and fed to every step,
so the input pipeline is not part of the time (see
`benchmarks/input_pipeline.py` for it).

Printed, and returned by `benchmark()` as a dict:
- ms/step and images/s: medians over `--repeats` runs of `--steps`
  steps, after warm-up calls (the first call traces, runs Grappler and,
  with XLA, compiles; its time is reported separately);
- the step's model FLOPs: convolutions, matmuls and einsums of the traced
  step with their gradients, counted by `benchmarks/flops.py` (its
  docstring says what is excluded); `--breakdown` prints them per op type
  and per network;
- the float32 matmul peak of this machine, measured in the same run (a
  square float32 `tf.matmul` of `--matmul_size` under `tf.function`,
  2 n^3 FLOPs, timed a few times after every timed run so that it sees
  the same load from other work as the steps; the median time counts),
  and with mixed precision also the peak of the compute dtype (bfloat16
  or float16);
- the achieved fraction of that peak: step FLOPs / step time / peak;
- the peak resident set size of the process (`ru_maxrss`: building,
  tracing and stepping the models; it includes TensorFlow itself).

For `fashiongen`, whose image encoder loads ImageNet weights (a download),
the encoder is built with random weights and its trunk frozen as it is
with pretrained weights, so the trained variables, and the FLOPs, are
those of the real run.

Run:
    python -m benchmarks.train_step --preset demo --phase gan [--steps 5] [--repeats 5] \
        [--mixed_precision off|bfloat16|float16] [--jit_compile] [--batch_size 32] [--breakdown] \
        [--similarity_weight 1]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import flops as flops_lib  # noqa: E402
from fashion_t2i import distribute  # noqa: E402
from fashion_t2i import fake_data  # noqa: E402
from fashion_t2i import networks  # noqa: E402
from fashion_t2i import train_lib  # noqa: E402
from fashion_t2i.config import PRESETS, get_preset  # noqa: E402
from fashion_t2i.config.runtime_config import MIXED_PRECISION  # noqa: E402

PHASES = ("damsm", "gan")
# The vocabulary only sizes the embedding table (a gather, no counted FLOPs).
VOCABULARY_SIZE = 1000
MATMUL_SIZE = 2048
# Timed products after each timed run of steps (the peak is their median).
MATMUL_REPEATS = 3
WARMUP_CALLS = 2
MB = 1024.0 * 1024.0
COMPUTE_DTYPE = {"bfloat16": tf.bfloat16, "float16": tf.float16}


def benchmark_config(
    preset, mixed_precision="off", jit_compile=False, batch_size=None, similarity_weight=None
):
    """The preset's `Config` with the runtime settings; no downloads.

    The word vectors are not read (the networks are built without the
    vocabulary, so a frozen vector table starts random), as no weights are.

    `similarity_weight`, if not None, replaces the preset's lambda (at 0 the
    GAN step computes L_similarity without its gradient).
    """
    config = get_preset(preset)
    model = {}
    if config.model.image_encoder_weights:
        # Pretrained weights freeze the trunk: keep it frozen, with random weights.
        model.update(image_encoder_weights="", train_image_trunk=False)
    config = config.replace(
        model=model,
        runtime={"mixed_precision": mixed_precision, "jit_compile": jit_compile},
    )
    if batch_size:
        config = config.replace(data={"batch_size": batch_size})
    if similarity_weight is not None:
        config = config.replace(train={"similarity_weight": similarity_weight})
    return config


def build_model(config, phase, vocabulary_size=VOCABULARY_SIZE):
    """The phase's compiled training model, built as training builds it (call in scope)."""
    if phase == "gan":
        return train_lib.compiled_gan(config, networks.damsm(config, vocabulary_size))
    return train_lib.compiled_damsm(config, vocabulary_size)


def matmul_timer(dtype=tf.float32, size=MATMUL_SIZE):
    """A function that times one square `size` matmul in `dtype` under `tf.function`.

    The product is warmed up (traced and run twice) before it is returned.
    """
    a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), dtype)
    b = tf.cast(tf.random.stateless_normal([size, size], seed=[3, 4]), dtype)
    # Returning one element makes `.numpy()` wait for the product without copying it.
    product = tf.function(lambda a, b: tf.matmul(a, b)[0, 0])

    def seconds():
        start = time.perf_counter()
        product(a, b).numpy()
        return time.perf_counter() - start

    seconds()
    seconds()
    return seconds


def peak_rss_bytes():
    """Peak resident set size of this process (`ru_maxrss`: kB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _time_steps(step_fn, batch, steps):
    """Seconds for `steps` calls, and how many of them reported non-finite losses."""
    non_finite = 0
    start = time.perf_counter()
    for _ in range(steps):
        # `.numpy()` waits for the step; `finite` is a scalar.
        non_finite += not bool(step_fn(batch)["finite"].numpy())
    return time.perf_counter() - start, non_finite


def benchmark(
    preset="demo",
    phase="gan",
    steps=5,
    repeats=5,
    mixed_precision="off",
    jit_compile=False,
    batch_size=None,
    vocabulary_size=VOCABULARY_SIZE,
    matmul_size=MATMUL_SIZE,
    matmul_repeats=MATMUL_REPEATS,
    progress=None,
    similarity_weight=None,
):
    """Times the training step of `phase`; returns the measurements as a dict.

    `progress`, if given, is called with a line of text after each stage
    (warm-up, each timed run), so a slow configuration shows it is alive.

    Sets Keras's global dtype policy for the run (through
    `distribute.configure`) and restores the previous one at the end.

    Raises:
        ValueError: unknown phase, preset or runtime value, or fewer than
            one step or repeat.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}.")
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps} and {repeats}.")
    log = progress or (lambda line: None)
    config = benchmark_config(
        preset, mixed_precision, jit_compile, batch_size, similarity_weight
    )
    runtime = config.runtime
    previous_policy = keras.mixed_precision.global_policy()
    try:
        distribute.configure(runtime)
        strategy = distribute.make_strategy(runtime)
        with strategy.scope():
            model = build_model(config, phase, vocabulary_size)
        step_fn = distribute.step_function(strategy, model, runtime.jit_compile)
        batch = fake_data.fake_batch(config, vocabulary_size)

        start = time.perf_counter()
        concrete = step_fn.get_concrete_function(batch)
        trace_seconds = time.perf_counter() - start
        start = time.perf_counter()
        count = flops_lib.count_graph_flops(concrete.graph)
        count_seconds = time.perf_counter() - start
        start = time.perf_counter()
        step_fn(batch)["finite"].numpy()
        first_call_seconds = time.perf_counter() - start
        for _ in range(WARMUP_CALLS - 1):
            step_fn(batch)["finite"].numpy()
        log(
            f"warm-up done: trace {trace_seconds:.1f} s, first call {first_call_seconds:.1f} s, "
            f"{count.total / 1e9:.2f} GFLOP per step"
        )

        dtypes = {"float32": tf.float32}
        if mixed_precision in COMPUTE_DTYPE:
            dtypes[mixed_precision] = COMPUTE_DTYPE[mixed_precision]
        timers = {name: matmul_timer(dtype, matmul_size) for name, dtype in dtypes.items()}
        matmul_seconds = {name: [] for name in dtypes}

        per_step, non_finite = [], 0
        for _ in range(repeats):
            seconds, bad = _time_steps(step_fn, batch, steps)
            per_step.append(seconds / steps)
            non_finite += bad
            # The peak is sampled between the runs, under the same load from other work.
            for name, timer in timers.items():
                matmul_seconds[name].extend(timer() for _ in range(matmul_repeats))
            log(f"run {len(per_step)}/{repeats}: {1e3 * per_step[-1]:.1f} ms/step")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    seconds = statistics.median(per_step)
    achieved = count.total / seconds
    matmul_flops = 2.0 * matmul_size**3
    peaks = {name: matmul_flops / statistics.median(t) for name, t in matmul_seconds.items()}
    best_peaks = {name: matmul_flops / min(t) for name, t in matmul_seconds.items()}
    compute_dtype = mixed_precision if mixed_precision in COMPUTE_DTYPE else "float32"
    skip = (model.name,)
    return {
        "preset": preset,
        "phase": phase,
        "batch_size": config.data.batch_size,
        "similarity_weight": config.train.similarity_weight,
        "mixed_precision": mixed_precision,
        "jit_compile": bool(jit_compile),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "steps": steps,
        "repeats": repeats,
        "ms_per_step": 1e3 * seconds,
        "ms_per_step_runs": [1e3 * s for s in per_step],
        "images_per_s": config.data.batch_size / seconds,
        "non_finite_steps": non_finite,
        "trace_s": trace_seconds,
        "flop_count_s": count_seconds,
        "first_call_s": first_call_seconds,
        "step_flops": count.total,
        "flops_by_op_type": dict(count.by_op_type),
        "flops_by_network": flops_lib.by_network(count, 1, skip),
        "flops_by_layer": flops_lib.by_network(count, 2, skip),
        "flops_unknown_trip_counts": list(count.unknown_trip_counts),
        "achieved_flops_per_s": achieved,
        "matmul_size": matmul_size,
        "peak_flops_per_s": peaks,
        "peak_flops_per_s_best": best_peaks,
        "fraction_of_float32_peak": achieved / peaks["float32"],
        "fraction_of_compute_peak": achieved / peaks[compute_dtype],
        "compute_dtype": compute_dtype,
        "peak_rss_mb": peak_rss_bytes() / MB,
    }


def report(result, breakdown=False):
    """The printed lines of a `benchmark()` result."""
    r = result
    peaks = r["peak_flops_per_s"]
    lines = [
        f"train step: preset {r['preset']}, phase {r['phase']}, batch {r['batch_size']}, "
        + (f"similarity_weight {r['similarity_weight']}, " if r["phase"] == "gan" else "")
        + f"mixed_precision {r['mixed_precision']}, jit_compile {r['jit_compile']}, "
        f"TF_ENABLE_ONEDNN_OPTS={r['onednn']}",
        f"  warm-up: trace {r['trace_s']:.1f} s, first call {r['first_call_s']:.1f} s "
        f"(FLOP count {r['flop_count_s']:.1f} s)",
        f"  ms/step          {r['ms_per_step']:.1f}  (median of {r['repeats']} x "
        f"{r['steps']} steps; runs: "
        + ", ".join(f"{t:.1f}" for t in r["ms_per_step_runs"])
        + ")",
        f"  images/s         {r['images_per_s']:.1f}",
        f"  step FLOPs       {r['step_flops'] / 1e9:.2f} GFLOP "
        "(conv + matmul + einsum, forward and backward)",
        f"  achieved         {r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s",
    ]
    for dtype, peak in peaks.items():
        best = r["peak_flops_per_s_best"][dtype]
        lines.append(
            f"  {dtype} matmul peak ({r['matmul_size']}^2): {peak / 1e9:.1f} GFLOP/s "
            f"(median; best {best / 1e9:.1f}) -> fraction of peak "
            f"{r['achieved_flops_per_s'] / peak:.3f}"
        )
    lines.append(f"  peak RSS         {r['peak_rss_mb']:.0f} MB (ru_maxrss of the process)")
    if r["non_finite_steps"]:
        lines.append(f"  note: {r['non_finite_steps']} timed steps had non-finite losses")
    if r["flops_unknown_trip_counts"]:
        lines.append(
            "  note: loops counted once (trip count not static): "
            + ", ".join(r["flops_unknown_trip_counts"])
        )
    if breakdown:
        for title, key, limit in (
            ("by op type", "flops_by_op_type", None),
            ("by network", "flops_by_network", None),
            ("by layer (top 15)", "flops_by_layer", 15),
        ):
            lines.append(f"  FLOPs {title}:")
            lines.extend(flops_lib.breakdown_table(r[key], r["step_flops"], limit))
    return lines


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.train_step` in `absl.flags.FLAGS`.

    Called only when this module runs as the program: `benchmarks.input_pipeline`
    and the tests import it as a library.
    """
    flags.DEFINE_enum("preset", "demo", sorted(PRESETS), "Config preset.")
    flags.DEFINE_enum("phase", "gan", PHASES, "Training phase whose step is timed.")
    flags.DEFINE_integer("steps", 5, "Steps per timed run.", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed runs (median taken).", lower_bound=1)
    flags.DEFINE_enum("mixed_precision", "off", MIXED_PRECISION, "Compute precision.")
    flags.DEFINE_bool("jit_compile", False, "Compile the step with XLA.")
    flags.DEFINE_integer("batch_size", 0, "Batch size; 0: the preset's.", lower_bound=0)
    flags.DEFINE_integer(
        "vocabulary_size", VOCABULARY_SIZE, "Rows of the embedding table.", lower_bound=3
    )
    flags.DEFINE_integer("matmul_size", MATMUL_SIZE, "Side of the peak's square matmul.", lower_bound=1)
    flags.DEFINE_bool("breakdown", False, "Print FLOPs per op type, network and layer.")
    flags.DEFINE_float(
        "similarity_weight", None,
        "GAN phase: lambda instead of the preset's (0: L_similarity without its gradient).",
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    result = benchmark(
        preset=FLAGS.preset,
        phase=FLAGS.phase,
        steps=FLAGS.steps,
        repeats=FLAGS.repeats,
        mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile,
        batch_size=FLAGS.batch_size or None,
        vocabulary_size=FLAGS.vocabulary_size,
        matmul_size=FLAGS.matmul_size,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        similarity_weight=FLAGS.similarity_weight,
    )
    print("\n".join(report(result, FLAGS.breakdown)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
