"""Latency and throughput of the exported generator behind `python -m serving.server`.

Rows of the printed table:

- `in-process`: `LoadedModel.run` of the `generate` signature in this
  process (the server's own call, without gRPC and protos), one caller;
- `gRPC` with 1 client: sequential `FashionT2IClient.generate` calls, the
  latency a single user sees;
- `gRPC` with `--clients` clients: concurrent callers (the threads of
  `benchmarks.serving_load.run_load`), the throughput.

Each row is measured at every `--batch_sizes` (texts per request): first
`--warm_up` requests per client, then `--repeats` runs of `--requests`
requests per client. Latency percentiles pool the requests of all runs;
requests/s and images/s are the median over the runs (min - max beside).
The server runs as a subprocess (`benchmarks.serving_load.ServerProcess`).

Without `--model_base_path` the benchmark exports the `--preset`'s
generator with random weights (`build_untrained_export`): latency depends on
the architecture, not on the weights. The target is checked when the
export's preset is `demo`: batch-1 p50 over gRPC <= `TARGET_P50_MS`.

Run:
    python -m benchmarks.serving [--model_base_path runs/demo/export/fashion_t2i] \
        [--preset demo] [--batch_sizes=1 --batch_sizes=8] [--requests 50] [--repeats 3]
"""

import os
import statistics
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

from benchmarks import serving_load

TARGET_P50_MS = 50.0
TARGET_PRESET = "demo"


def build_untrained_export(config, base_dir, model_name=None, captions=serving_load.CAPTIONS):
    """Exports `config`'s text encoder and generator with random weights as version 1.

    The networks are built by `TextToImage.from_config` (as
    `TextToImage.from_workdir` builds them), over a vocabulary of the words in
    `captions` (and, as in training, the config's `pretrained_words` most
    frequent words of its word vectors, so the table is full size), and
    written by
    `export_lib.export_saved_model` with the config in `assets.extra`.

    Returns:
        `<base_dir>/<model_name>` (default name: the config's).
    """
    from export import export_lib
    from fashion_t2i.text import vocabulary as vocabulary_lib
    from fashion_t2i.text_to_image import TextToImage

    model_name = model_name or config.export.model_name
    vocabulary = os.path.join(base_dir, vocabulary_lib.FILENAME)
    tokens = vocabulary_lib.build_vocabulary(captions)
    if config.model.word_vectors_path and config.text.pretrained_words:
        from fashion_t2i.text import word_vectors

        tokens = vocabulary_lib.extend_vocabulary(
            tokens,
            word_vectors.pretrained_words(
                config.model.word_vectors_path, config.text.pretrained_words
            ),
        )
    vocabulary_lib.save_vocabulary(tokens, vocabulary)
    model = TextToImage.from_config(config, vocabulary)
    export_lib.export_saved_model(model, base_dir, model_name, version=1)
    return os.path.join(base_dir, model_name)


def summarize(runs, batch_size):
    """Percentiles over every request of `runs`, and the median rates over the runs.

    Args:
        runs: `(latencies in seconds, wall seconds)` of each timed run.
        batch_size: images per request.

    Returns:
        A dict: `requests` (all runs), `p50_ms`, `p95_ms`, `p99_ms`,
        `requests_per_second` (median) with `requests_per_second_min` /
        `_max`, and `images_per_second` (median).
    """
    latencies = np.concatenate([latencies for latencies, _ in runs])
    rates = [len(latencies) / seconds for latencies, seconds in runs]
    summary = {"requests": len(latencies)}
    for p in serving_load.PERCENTILES:
        summary[f"p{p}_ms"] = serving_load.percentile_ms(latencies, p)
    summary["requests_per_second"] = statistics.median(rates)
    summary["requests_per_second_min"] = min(rates)
    summary["requests_per_second_max"] = max(rates)
    summary["images_per_second"] = statistics.median(rates) * batch_size
    return summary


def measure_in_process(model, batch_size, requests=50, repeats=3, warm_up=5):
    """Times `model.run("generate", ...)` (a `serving.loaded_model.LoadedModel`) back to back.

    Returns:
        The dict of `summarize`.
    """
    texts = np.array(
        [serving_load.CAPTIONS[i % len(serving_load.CAPTIONS)] for i in range(batch_size)],
        dtype=object,
    )

    def call(index):
        seeds = np.arange(index * batch_size, (index + 1) * batch_size, dtype=np.int64)
        started = time.perf_counter()
        model.run("generate", {"texts": texts, "seeds": seeds})
        return time.perf_counter() - started

    for index in range(warm_up):
        call(index)
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        latencies = np.array([call(index) for index in range(requests)])
        runs.append((latencies, time.perf_counter() - started))
    return summarize(runs, batch_size)


def measure_grpc(server, model_name, clients, batch_size, requests=50, repeats=3, warm_up=5,
                 timeout=60.0):
    """Runs `serving_load.run_load` against `server` (a `ServerProcess`): warm-up, then the runs.

    Returns:
        The dict of `summarize`.

    Raises:
        RuntimeError: a request failed (the numbers would mean nothing).
    """
    def load(requests_per_client):
        result = serving_load.run_load(server.target, server.pid, clients, requests_per_client,
                                       model_name, timeout, batch_size)
        if result.errors:
            raise RuntimeError(f"{len(result.errors)} of {result.requests} requests failed, "
                               f"first: {result.errors[:3]}; server log:\n{server._log_tail()}")
        return result

    if warm_up:
        load(warm_up)
    runs = [load(requests) for _ in range(repeats)]
    return summarize([(result.latencies, result.seconds) for result in runs], batch_size)


def export_preset(version_dir):
    """The preset named in an export's `assets.extra/config.json`, or None without one."""
    from fashion_t2i.config import Config

    try:
        return Config.load(os.path.join(version_dir, "assets.extra")).preset
    except (FileNotFoundError, ValueError):
        return None


def run(model_base_path=None, preset="demo", model_name="fashion_t2i", batch_sizes=(1, 8),
        clients=4, requests=50, repeats=3, warm_up=5, word_vectors=True):
    """Measures the in-process and gRPC rows (see the module docstring).

    Args:
        model_base_path: `<base>/<model_name>` of an export; None exports
            `preset` untrained into a temporary directory.
        word_vectors: the untrained export keeps the preset's word vectors;
            False exports it with a trained-from-scratch embedding over the
            captions' words only (to measure what the vectors cost).

    Returns:
        A dict: `preset` (of the served export, None if it has no config),
        `version_dir`, `rows` (a list of dicts: `path`, `clients`,
        `batch_size` and the entries of `summarize`), and `target_met`
        (None unless the preset is `TARGET_PRESET`).
    """
    from fashion_t2i.config import get_preset
    from serving.model_loader import ModelLoader

    config = get_preset(preset)
    if not word_vectors:
        config = config.replace(
            text={"pretrained_words": 0},
            model={"word_vectors_path": "", "embedding_mode": "trainable"},
        )
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        base = model_base_path or build_untrained_export(config, directory, model_name)
        size_mb = _directory_megabytes(base)
        loader = ModelLoader(base, model_name)
        loader.poll()
        model = loader.servable(model_name)
        if model is None:
            raise FileNotFoundError(f"No loadable version of {model_name} under {base}.")
        served_preset = export_preset(model.path)
        for batch_size in batch_sizes:
            summary = measure_in_process(model, batch_size, requests, repeats, warm_up)
            rows.append({"path": "in-process", "clients": 1, "batch_size": batch_size, **summary})
        loader.unload_all()
        log_path = os.path.join(directory, "server.log")
        with serving_load.ServerProcess(base, model_name, log_path=log_path) as server:
            for num_clients in sorted({1, clients}):
                for batch_size in batch_sizes:
                    summary = measure_grpc(server, model_name, num_clients, batch_size, requests,
                                           repeats, warm_up)
                    rows.append({"path": "gRPC", "clients": num_clients, "batch_size": batch_size,
                                 **summary})
    target_met = None
    if served_preset == TARGET_PRESET:
        target_met = _target_row(rows)["p50_ms"] <= TARGET_P50_MS
    return {"preset": served_preset, "version_dir": model.path, "rows": rows,
            "target_met": target_met, "export_mb": size_mb}


def _directory_megabytes(path):
    """Total size of the files under `path`, in MB."""
    total = 0
    for root, _, names in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in names)
    return total / (1024.0 * 1024.0)


def _target_row(rows):
    """The row the target is about: gRPC, one client, batch 1."""
    return next(row for row in rows
                if (row["path"], row["clients"], row["batch_size"]) == ("gRPC", 1, 1))


def report(results):
    """The printout of `run`'s results: the table and the target check."""
    lines = [f"export: {results['export_mb']:.1f} MB",
             f"{'path':<10} {'clients':>7} {'batch':>5} {'requests':>8} "
             + " ".join(f"{f'p{p} ms':>7}" for p in serving_load.PERCENTILES)
             + f" {'requests/s':>10} {'(min - max)':>15} {'images/s':>8}"]
    for row in results["rows"]:
        lines.append(
            f"{row['path']:<10} {row['clients']:>7} {row['batch_size']:>5} {row['requests']:>8} "
            + " ".join(f"{row[f'p{p}_ms']:>7.1f}" for p in serving_load.PERCENTILES)
            + f" {row['requests_per_second']:>10.1f} "
            f"{'(%.1f - %.1f)' % (row['requests_per_second_min'], row['requests_per_second_max']):>15}"
            f" {row['images_per_second']:>8.1f}"
        )
    if results["target_met"] is None:
        lines.append(f"target (batch-1 p50 <= {TARGET_P50_MS:g} ms) is set for the "
                     f"{TARGET_PRESET} preset; this export's preset: {results['preset']}")
    else:
        p50 = _target_row(results["rows"])["p50_ms"]
        verdict = "met" if results["target_met"] else "NOT met"
        lines.append(f"target {TARGET_PRESET}: batch-1 p50 over gRPC {p50:.1f} ms <= "
                     f"{TARGET_P50_MS:g} ms: {verdict}")
    return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.serving` in `absl.flags.FLAGS`.

    Called only when this module runs as the program, so that importing it
    next to `benchmarks.serving_load` (or the tests) adds no flags.
    """
    from fashion_t2i.config import PRESETS

    flags.DEFINE_string(
        "model_base_path", None,
        "<base>/<model_name> of an export; default: the --preset's generator with random "
        "weights, exported to a temporary directory.",
    )
    flags.DEFINE_enum(
        "preset", "demo", sorted(PRESETS),
        "Preset of the untrained export (ignored with --model_base_path: the export's config "
        "names its preset).",
    )
    flags.DEFINE_bool(
        "word_vectors", True,
        "Untrained export with the preset's word vectors; --noword_vectors: with one embedding "
        "table over the captions' words instead (what the vectors cost in size and latency).",
    )
    flags.DEFINE_string("model_name", "fashion_t2i", "Served model name.")
    flags.DEFINE_multi_integer("batch_sizes", [1, 8], "Texts per request; repeatable.", lower_bound=1)
    flags.DEFINE_integer("clients", 4, "Concurrent gRPC clients.", lower_bound=1)
    flags.DEFINE_integer("requests", 50, "Requests per client in each timed run.", lower_bound=1)
    flags.DEFINE_integer("repeats", 3, "Timed runs per row.", lower_bound=1)
    flags.DEFINE_integer("warm_up", 5, "Untimed requests per client first.", lower_bound=0)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    source = FLAGS.model_base_path or f"untrained {FLAGS.preset} export"
    print(f"serving {source}: {FLAGS.warm_up} warm-up requests per client, then {FLAGS.repeats} "
          f"runs of {FLAGS.requests} requests per client", flush=True)
    results = run(FLAGS.model_base_path, FLAGS.preset, FLAGS.model_name, FLAGS.batch_sizes,
                  FLAGS.clients, FLAGS.requests, FLAGS.repeats, FLAGS.warm_up,
                  FLAGS.word_vectors)
    print(report(results))


if __name__ == "__main__":
    define_flags()
    app.run(main)
