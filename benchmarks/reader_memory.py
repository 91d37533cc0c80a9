"""Peak memory of streaming a Fashion-Gen HDF5 file through `FashionGenReader.dataset()`.

The reader must read lazily: Fashion-Gen's train file is 13 GB. This writes
schema files of different sizes, streams each one completely in a fresh
Python process and reports that process's peak resident set size (VmHWM,
or `resource.getrusage(...).ru_maxrss` where /proc is missing). If reading is lazy, the peak hardly
moves while the file grows. As a control, each process then reads every image
at once; the peak must jump by about the image bytes, which shows the
measurement would catch an eager reader.

Run:
    python -m benchmarks.reader_memory [--rows=500 --rows=4000] [--image_size 64]
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024.0 * 1024.0


def write_file(path, num_rows, image_size=64, seed=0, chunk_rows=256):
    """Writes a schema file of random (incompressible) images; returns its size in bytes."""
    from fashion_t2i.data import schema

    rng = np.random.default_rng(seed)
    with schema.create(path, num_rows, image_size) as f:
        for start in range(0, num_rows, chunk_rows):
            stop = min(start + chunk_rows, num_rows)
            n = stop - start
            f[schema.IMAGE][start:stop] = rng.integers(
                0, 256, (n, image_size, image_size, 3), dtype=np.uint8
            )
            f[schema.DESCRIPTION][start:stop, 0] = [
                b"a red cotton dress with long sleeves, number %d" % i for i in range(start, stop)
            ]
            f[schema.NAME][start:stop, 0] = [b"dress"] * n
            f[schema.CATEGORY][start:stop, 0] = [b"DRESSES"] * n
            f[schema.PRODUCT_ID][start:stop, 0] = np.arange(start, stop)
    return os.path.getsize(path)


def _peak_rss_bytes():
    """Peak resident set size of this process, in bytes.

    Linux keeps `ru_maxrss` across exec, so a process started from a large
    one (pytest with TensorFlow loaded) reports its parent's size; VmHWM in
    /proc/self/status belongs to this process's own address space only.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Elsewhere, ru_maxrss (kilobytes on Linux, bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def stream(path, block_size):
    """In this process: streams every example of `path`, then (control) reads all images.

    Returns:
        A dict of counts and peak RSS values in bytes.
    """
    import h5py
    import tensorflow as tf  # noqa: F401  (imported before the first measurement)

    from fashion_t2i.data import schema
    from fashion_t2i.data.fashion_gen_reader import FashionGenReader

    peak_after_import = _peak_rss_bytes()
    reader = FashionGenReader(path, block_size=block_size)
    examples = 0
    pixel_sum = 0
    start = time.perf_counter()
    for example in reader.dataset(shuffle=True, seed=0):
        examples += 1
        pixel_sum += int(example["image"].numpy()[0, 0, 0])
    seconds = time.perf_counter() - start
    peak_streaming = _peak_rss_bytes()
    # Control: an eager read of every image.
    with h5py.File(path, "r") as f:
        everything = f[schema.IMAGE][:]
    image_bytes = everything.nbytes
    del everything
    return {
        "examples": examples,
        "pixel_sum": pixel_sum,
        "seconds": seconds,
        "image_bytes": image_bytes,
        "peak_rss_after_import": peak_after_import,
        "peak_rss_streaming": peak_streaming,
        "peak_rss_after_full_read": _peak_rss_bytes(),
    }


def measure(path, block_size=256, timeout=600):
    """Runs `stream(path)` in a fresh Python process; returns its dict plus `file_bytes`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = [sys.executable, "-m", "benchmarks.reader_memory", "--stream", path,
               "--block_size", str(block_size)]
    result = subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    stats["file_bytes"] = os.path.getsize(path)
    return stats


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.reader_memory` in `absl.flags.FLAGS`.

    Called only when this module runs as the program: the tests and
    `benchmarks.input_pipeline` import it as a library.
    """
    flags.DEFINE_multi_integer(
        "rows", [500, 4000], "Rows of each file; repeat for each size (at least two).", lower_bound=1
    )
    flags.DEFINE_integer("image_size", 64, "Image height and width of the files.", lower_bound=1)
    flags.DEFINE_integer("block_size", 256, "FashionGenReader block_size.", lower_bound=1)
    flags.DEFINE_string(
        "stream", None,
        "Stream this one file in this process and print the measurements as JSON (what "
        "`measure` runs in a fresh process).",
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.stream:
        print(json.dumps(stream(FLAGS.stream, FLAGS.block_size)))
        return
    if len(set(FLAGS.rows)) < 2:
        raise app.UsageError("Pass at least two different --rows, e.g. --rows=500 --rows=4000.")

    print(f"FashionGenReader.dataset(): peak RSS of a fresh process streaming the "
          f"whole file ({FLAGS.image_size} px, block_size={FLAGS.block_size})")
    header = (f"{'rows':>6} {'file MB':>8} {'RSS import MB':>14} {'RSS stream MB':>14} "
              f"{'RSS +read all MB':>17} {'examples/s':>11}")
    print(header)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for rows in FLAGS.rows:
            path = os.path.join(directory, f"rows_{rows}.h5")
            write_file(path, rows, FLAGS.image_size)
            stats = measure(path, FLAGS.block_size)
            if stats["examples"] != rows:
                raise RuntimeError(f"streamed {stats['examples']} of {rows} examples")
            results.append(stats)
            print(f"{rows:>6} {stats['file_bytes'] / MB:>8.1f} "
                  f"{stats['peak_rss_after_import'] / MB:>14.1f} "
                  f"{stats['peak_rss_streaming'] / MB:>14.1f} "
                  f"{stats['peak_rss_after_full_read'] / MB:>17.1f} "
                  f"{rows / stats['seconds']:>11.0f}")
    small, large = results[0], results[-1]
    file_growth = (large["file_bytes"] - small["file_bytes"]) / MB
    rss_growth = (large["peak_rss_streaming"] - small["peak_rss_streaming"]) / MB
    control = (large["peak_rss_after_full_read"] - large["peak_rss_streaming"]) / MB
    print(f"file grew by {file_growth:.1f} MB; streaming peak RSS grew by {rss_growth:.1f} MB "
          f"({rss_growth / file_growth:.1%} of it)")
    print(f"control: reading every image of the largest file at once adds {control:.1f} MB")


if __name__ == "__main__":
    define_flags()
    app.run(main)
