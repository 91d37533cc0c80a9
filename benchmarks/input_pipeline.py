"""Examples per second of the training input pipeline, from a 256 px HDF5 file and the embedded data.

The batches come from `RunContext.train_batches`, the iterator
training consumes: `InputPipeline` over `FashionGenReader` with the preset's
`DataConfig` and stage sizes and a `Tokenizer` over a vocabulary built from
the training captions. Two sources are measured, each in a temporary workdir:

- `embedded`: the Fashion-MNIST data of the preset
  (`FashionMnistBuilder.from_config(config.data)`, built if missing);
- `hdf5`: a synthetic Fashion-Gen schema file (random images of
  `--image_size` px, written with `benchmarks.reader_memory.write_file`), so
  the full-size read, resize, crop and flip path is timed; `--hdf5_path`
  measures an existing file instead.

Per source: `--warm_up` batches (they also fill the shuffle buffer), then
`--repeats` timed runs of `--batches` batches; it prints the median
examples/s with the min and max over the runs, and the process's peak RSS
after the source (`ru_maxrss`, so the second source's value includes the
first's peak). The pipeline must deliver at least `REQUIRED_RATIO` times the
examples/s the training step consumes. That rate is measured in the same
run, before the pipeline, as training runs the preset's GAN step
(`benchmarks.train_step.benchmark`, the preset's runtime settings, median of
`STEP_REPEATS` runs of `STEP_STEPS` steps), so both numbers see the same
machine and load; `--step_examples_per_second` gives it instead.

Run:
    python -m benchmarks.input_pipeline [--preset demo] [--batches 50] [--repeats 5] \
        [--sources=embedded --sources=hdf5]
"""

import multiprocessing
import os
import resource
import statistics
import tempfile
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024.0 * 1024.0
# Smaller images first: the peak RSS after each source then includes only smaller peaks.
SOURCES = ("embedded", "hdf5")
REQUIRED_RATIO = 5.0
STEP_STEPS = 5
STEP_REPEATS = 3


def peak_rss_bytes():
    """Peak resident set size of this process so far (`ru_maxrss`, kB on Linux), in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def source_config(config, source, directory, hdf5_examples=2000, image_size=256, hdf5_path=None,
                  data_dir=None):
    """The preset's config with its training data pointed at `source`.

    For `hdf5`, writes the synthetic file into `directory` unless
    `hdf5_path` is given; it serves as both splits (the validation reader is
    built by `RunContext` but not timed). For `embedded`, the data is in
    `data_dir`, by default the preset's `fashion_mnist_dir` taken from the
    repository root (where `make data` builds it).
    """
    if source == "embedded":
        data_dir = data_dir or os.path.join(REPO, config.data.fashion_mnist_dir)
        return config.replace(data={"fashion_mnist_dir": data_dir})
    if source != "hdf5":
        raise ValueError(f"Unknown source {source!r}; choose one of {SOURCES}.")
    if hdf5_path is None:
        from benchmarks import reader_memory

        hdf5_path = os.path.join(directory, f"synthetic_{image_size}px.h5")
        reader_memory.write_file(hdf5_path, hdf5_examples, image_size)
    # Fashion-GEN training crops and flips (the `fashiongen` preset), whatever
    # the preset whose batch size and stage sizes are timed.
    return config.replace(
        data={"train_path": hdf5_path, "validation_path": hdf5_path, "augment": True}
    )


def time_batches(batches, batch_size, num_batches=50, repeats=5, warm_up=5):
    """Times `repeats` runs of `num_batches` batches drawn from the iterator `batches`.

    Returns:
        The examples/s of each run, after `warm_up` untimed batches.
    """
    for _ in range(warm_up):
        next(batches)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(num_batches):
            next(batches)
        rates.append(num_batches * batch_size / (time.perf_counter() - started))
    return rates


def measure_source(config, workdir, num_batches=50, repeats=5, warm_up=5):
    """Examples/s of the training batches of `config` (its data already resolved).

    Returns:
        A dict: `examples_per_second` (median over the runs), `min`, `max`,
        `runs` (every run's rate), `batch_size`, `image_size` (of the file),
        `examples` (in the file) and `peak_rss_mb`.
    """
    from fashion_t2i.run_context import RunContext

    context = RunContext.for_training(config, workdir)
    batch_size = context.config.data.batch_size
    rates = time_batches(context.train_batches(), batch_size, num_batches, repeats, warm_up)
    return {
        "examples_per_second": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": rates,
        "batch_size": batch_size,
        "image_size": context.train_reader.image_size,
        "examples": context.train_reader.num_examples,
        "peak_rss_mb": peak_rss_bytes() / MB,
    }


def run(preset="demo", num_batches=50, repeats=5, warm_up=5, sources=SOURCES,
        hdf5_examples=2000, image_size=256, hdf5_path=None, data_dir=None,
        step_examples_per_second=None):
    """Measures every source in `sources` for the named preset.

    Returns:
        A dict: `baseline_rss_mb`, the peak RSS once TensorFlow and the
        training code are imported; `step_examples_per_second` as given; and
        `sources`, source -> the dict of `measure_source`, plus `step_ratio`
        (its examples/s over `step_examples_per_second`) when that is given.
    """
    from fashion_t2i import train_lib  # noqa: F401  (TensorFlow and the models, before the baseline)
    from fashion_t2i.config import get_preset

    config = get_preset(preset)
    results = {
        "baseline_rss_mb": peak_rss_bytes() / MB,
        "step_examples_per_second": step_examples_per_second,
        "sources": {},
    }
    for source in sources:
        with tempfile.TemporaryDirectory() as directory:
            resolved = source_config(config, source, directory, hdf5_examples, image_size,
                                     hdf5_path, data_dir)
            result = measure_source(
                resolved, os.path.join(directory, "workdir"), num_batches, repeats, warm_up
            )
        if step_examples_per_second:
            result["step_ratio"] = result["examples_per_second"] / step_examples_per_second
        results["sources"][source] = result
    return results


def report(results):
    """The printout of `run`'s results: one row per source, then the ratios to the training step."""
    lines = [f"{'source':<9} {'image px':>8} {'examples':>8} {'batch':>5} "
             f"{'examples/s median':>17} {'(min - max)':>17} {'peak RSS MB':>11}"]
    for source, result in results["sources"].items():
        lines.append(
            f"{source:<9} {result['image_size']:>8} {result['examples']:>8} "
            f"{result['batch_size']:>5} {result['examples_per_second']:>17.0f} "
            f"{'(%.0f - %.0f)' % (result['min'], result['max']):>17} "
            f"{result['peak_rss_mb']:>11.0f}"
        )
    lines.append(f"peak RSS after importing TensorFlow and the training code: "
                 f"{results['baseline_rss_mb']:.0f} MB")
    for source, result in results["sources"].items():
        if "step_ratio" in result:
            verdict = "meets" if result["step_ratio"] >= REQUIRED_RATIO else "MISSES"
            lines.append(
                f"{source}: {result['step_ratio']:.1f}x the training step's "
                f"{results['step_examples_per_second']:.0f} examples/s "
                f"({verdict} the {REQUIRED_RATIO:g}x target)"
            )
    return "\n".join(lines)


def _time_step(preset):
    """The preset's GAN step timing (runs in the child process of `measure_step`)."""
    from benchmarks import train_step

    result = train_step.benchmark(
        preset=preset, phase="gan", steps=STEP_STEPS, repeats=STEP_REPEATS,
        matmul_size=256, matmul_repeats=1,
    )
    return {key: result[key] for key in ("ms_per_step", "images_per_s", "batch_size")}


def measure_step(preset):
    """Images/s of the preset's GAN training step, as training runs it.

    Measured in a spawned child process, so that the models' memory does not
    count in this process's peak RSS.
    """
    print(f"timing the {preset} GAN step ({STEP_REPEATS} x {STEP_STEPS} steps)", flush=True)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply(_time_step, (preset,))
    print(f"{preset} GAN step: {result['ms_per_step']:.0f} ms per batch of "
          f"{result['batch_size']}, {result['images_per_s']:.0f} examples/s", flush=True)
    return result["images_per_s"]


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.input_pipeline` in `absl.flags.FLAGS`.

    Called only when this module runs as the program: the child process of
    `measure_step` and the tests import it as a library.
    """
    from fashion_t2i.config import PRESETS

    flags.DEFINE_enum("preset", "demo", sorted(PRESETS), "Config preset.")
    flags.DEFINE_integer("batches", 50, "Batches per timed run.", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed runs per source.", lower_bound=1)
    flags.DEFINE_integer("warm_up", 5, "Untimed batches first.", lower_bound=0)
    flags.DEFINE_multi_enum("sources", list(SOURCES), SOURCES, "Sources to measure; repeatable.")
    flags.DEFINE_integer("hdf5_examples", 2000, "Examples in the synthetic HDF5 file.", lower_bound=1)
    flags.DEFINE_integer(
        "image_size", 256, "Image size of the synthetic HDF5 file (Fashion-Gen: 256).", lower_bound=1
    )
    flags.DEFINE_string(
        "hdf5_path", None, "Measure this Fashion-Gen schema file instead of writing a synthetic one."
    )
    flags.DEFINE_string(
        "data_dir", None,
        "Where the embedded data is built (default: the preset's fashion_mnist_dir under the "
        "repository root).",
    )
    flags.DEFINE_float(
        "step_examples_per_second", None,
        "Examples/s the training step consumes, to compare against (default: the preset's GAN "
        "step, measured in this run).",
        lower_bound=0.0,
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    step_rate = FLAGS.step_examples_per_second
    if step_rate is None:
        step_rate = measure_step(FLAGS.preset)

    print(f"training input pipeline, preset {FLAGS.preset}: {FLAGS.warm_up} warm-up batches, "
          f"then {FLAGS.repeats} runs of {FLAGS.batches} batches per source", flush=True)
    results = run(FLAGS.preset, FLAGS.batches, FLAGS.repeats, FLAGS.warm_up, FLAGS.sources,
                  FLAGS.hdf5_examples, FLAGS.image_size, FLAGS.hdf5_path, FLAGS.data_dir, step_rate)
    print(report(results))


if __name__ == "__main__":
    define_flags()
    app.run(main)
