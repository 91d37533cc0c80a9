"""Throughput, latency and memory of `python -m serving.server` under concurrent clients.

Starts the server as a subprocess on a loopback port, so the resident set
size read from `/proc/<pid>/status` is the server's alone, then runs
`--threads` client threads that each send `--requests` seeded `generate`
calls of batch 1 (every seed distinct) through their own `FashionT2IClient`.
It prints requests/s, latency percentiles, the error count and the server's
RSS after the first 10% of the requests (past warm-up) and at the end: a leak
shows as RSS that keeps growing after warm-up.

By default it serves the stand-in model of `tests/serving_fixtures.py`
(deterministic 8x8 images, the real export's signatures), built in a
temporary directory; `--model_base_path` points it at a real export.

Run:
    python -m benchmarks.serving_load [--model_base_path runs/demo/export/fashion_t2i] \
        [--threads 8] [--requests 200]
"""

import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024.0 * 1024.0
CAPTIONS = (
    "a red pullover",
    "a navy blue ankle boot",
    "a black and white striped dress",
    "a green sneaker",
    "a grey checked coat",
)
# Share of the requests after which the baseline RSS is read (warm-up done).
WARM_UP_FRACTION = 0.1
# Latency percentiles every serving benchmark prints.
PERCENTILES = (50, 95, 99)


def percentile_ms(latencies, percentile):
    """The `percentile` of `latencies` (seconds), in milliseconds."""
    return float(np.percentile(latencies, percentile) * 1000.0)


def rss_bytes(pid):
    """Current resident set size (VmRSS) of process `pid`, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


class ServerProcess:
    """`python -m serving.server` on free loopback gRPC and REST ports, stopped with SIGTERM.

    Args:
        model_base_path: `<base>/<model_name>`, holding numbered versions.
        model_name: the served model's name.
        log_path: file that receives the server's stderr (its log).
        startup_timeout: seconds to wait for `listening on host:port`.

    Example:
        >>> with ServerProcess("export/fashion_t2i", log_path="server.log") as server:
        ...     client = FashionT2IClient(server.target)
    """

    def __init__(self, model_base_path, model_name="fashion_t2i", log_path=os.devnull,
                 startup_timeout=120.0):
        self.model_base_path = model_base_path
        self.model_name = model_name
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process = None
        self.port = None
        self.rest_url = None

    @property
    def pid(self):
        return self.process.pid

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        """Starts the server and waits until it accepts requests.

        Raises:
            RuntimeError: the server exited or did not listen in time (with
                the end of its log).
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "serving.server", "--model_base_path", self.model_base_path,
                 "--model_name", self.model_name, "--host", "127.0.0.1", "--port", "0",
                 "--rest_api_port", "0"],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        line = ""
        while time.monotonic() < deadline and self.process.poll() is None:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                break
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(
                f"serving.server did not start (printed {line!r}); its log:\n{self._log_tail()}"
            )
        self.port = int(line.rsplit(":", 1)[1])
        # "REST API and design page on http://127.0.0.1:<port>/" follows at once.
        self.rest_url = self.process.stdout.readline().rsplit(" ", 1)[-1].strip()
        return self

    def stop(self, timeout=30.0):
        """Sends SIGTERM and waits; kills after `timeout` seconds. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode

    def _log_tail(self, chars=3000):
        if self.log_path == os.devnull:
            return "(not kept; pass log_path)"
        with open(self.log_path) as f:
            return f.read()[-chars:]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


@dataclasses.dataclass
class LoadResult:
    """What `run_load` measured.

    Attributes:
        texts, seeds: the text and seed of each image, request by request
            (thread t sends requests t * requests ... (t + 1) * requests - 1;
            request r holds images r * batch_size ... (r + 1) * batch_size - 1).
        pngs: the PNG answered for each image (None where the call failed).
        latencies: seconds per request, by request index.
        errors: `(request index, "CODE: details")` of every failed call.
        seconds: wall time of the whole load.
        rss_idle, rss_warm, rss_end: server RSS in bytes before the first
            request, once `WARM_UP_FRACTION` of the requests had finished,
            and after the last.
    """

    texts: list
    seeds: list
    pngs: list
    latencies: np.ndarray
    errors: list
    seconds: float
    rss_idle: int
    rss_warm: int
    rss_end: int

    @property
    def requests(self):
        return len(self.latencies)

    @property
    def requests_per_second(self):
        return self.requests / self.seconds

    def latency_ms(self, percentile):
        return percentile_ms(self.latencies, percentile)


def timed_load(threads, requests, server_pid, send, connect=contextlib.nullcontext, describe=None):
    """Runs `threads` client threads of `requests` timed calls each, started together.

    Thread t opens `connect()` (e.g. its own gRPC channel) and calls
    `send(client, r)` for its requests r = t * requests ... (t + 1) * requests - 1,
    one after another. A call that raises is an error `(r, describe(error))`,
    or `(r, "<type>: <message>")` where `describe` is None or returns None: a
    client-side failure is an error too.

    Returns:
        The timing fields of a `LoadResult` (`latencies`, `errors`, `seconds`,
        `rss_idle`, `rss_warm`, `rss_end`) as a dict.
    """
    total = threads * requests
    latencies = np.zeros(total)
    errors = []
    lock = threading.Lock()
    done = [0]
    warm_at = max(1, int(total * WARM_UP_FRACTION))
    rss_warm = [None]
    start_together = threading.Barrier(threads + 1, timeout=120)

    def client_thread(thread_index):
        with connect() as client:
            start_together.wait()
            for index in range(thread_index * requests, (thread_index + 1) * requests):
                started = time.perf_counter()
                try:
                    send(client, index)
                except Exception as error:
                    message = describe(error) if describe is not None else None
                    with lock:
                        errors.append((index, message or f"{type(error).__name__}: {error}"))
                latencies[index] = time.perf_counter() - started
                with lock:
                    done[0] += 1
                    if done[0] == warm_at:
                        rss_warm[0] = rss_bytes(server_pid)

    workers = [threading.Thread(target=client_thread, args=(t,), daemon=True)
               for t in range(threads)]
    for worker in workers:
        worker.start()
    rss_idle = rss_bytes(server_pid)
    start_together.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return dict(
        latencies=latencies, errors=errors, seconds=time.perf_counter() - started,
        rss_idle=rss_idle, rss_warm=rss_warm[0], rss_end=rss_bytes(server_pid),
    )


def run_load(target, server_pid, threads=8, requests=200, model_name="fashion_t2i", timeout=30.0,
             batch_size=1):
    """Sends `threads` x `requests` seeded `generate` calls of `batch_size` texts concurrently.

    Each thread has its own `FashionT2IClient` (its own channel) and sends
    its requests one after another; seeds are distinct across all images.

    Returns:
        A `LoadResult` (errors as "<gRPC code>: <details>").
    """
    import grpc

    from serving.client import FashionT2IClient

    total = threads * requests
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(total * batch_size)]
    seeds = list(range(total * batch_size))
    pngs = [None] * (total * batch_size)

    def send(client, index):
        images = slice(index * batch_size, (index + 1) * batch_size)
        answer = client.generate(texts[images], seeds=seeds[images])
        if len(answer) != batch_size:
            raise ValueError(f"{len(answer)} PNGs for {batch_size} texts")
        pngs[images] = answer

    def describe(error):
        if isinstance(error, grpc.RpcError):
            return f"{error.code().name}: {error.details()}"
        return None

    times = timed_load(
        threads, requests, server_pid, send,
        connect=lambda: FashionT2IClient(target, model_name, timeout=timeout), describe=describe,
    )
    return LoadResult(texts=texts, seeds=seeds, pngs=pngs, **times)


def decode_pngs(pngs):
    """Decodes every answered PNG; returns `(images, undecodable count)`."""
    import tensorflow as tf

    images, undecodable = [], 0
    for png in pngs:
        if png is None:
            continue
        try:
            images.append(tf.io.decode_png(png).numpy())
        except tf.errors.InvalidArgumentError:
            undecodable += 1
    return images, undecodable


def build_stand_in(directory, model_name="fashion_t2i"):
    """The stand-in model as version 1 under `directory`; returns its base path."""
    from tests import serving_fixtures

    base = os.path.join(directory, model_name)
    serving_fixtures.build_stand_in_model(os.path.join(base, "1"))
    return base


def report(result, undecodable):
    """The benchmark's printout of one `LoadResult`."""
    return "\n".join([
        f"requests {result.requests}  errors {len(result.errors)}  undecodable PNGs {undecodable}",
        f"throughput {result.requests_per_second:.1f} requests/s ({result.seconds:.2f} s)",
        "latency ms  " + "  ".join(
            f"p{p} {result.latency_ms(p):.1f}" for p in PERCENTILES
        ) + f"  max {result.latencies.max() * 1000.0:.1f}",
        f"server RSS MB  idle {result.rss_idle / MB:.1f}  "
        f"after {WARM_UP_FRACTION:.0%} of requests {result.rss_warm / MB:.1f}  "
        f"end {result.rss_end / MB:.1f}  "
        f"growth after warm-up {(result.rss_end - result.rss_warm) / MB:+.1f}",
    ])


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.serving_load` in `absl.flags.FLAGS`.

    Called only when this module runs as the program: `benchmarks.serving`
    and the tests import it as a library.
    """
    flags.DEFINE_string(
        "model_base_path", None,
        "<base>/<model_name> of an export; default: the stand-in model in a temporary directory.",
    )
    flags.DEFINE_string("model_name", "fashion_t2i", "Served model name.")
    flags.DEFINE_integer("threads", 8, "Concurrent client threads.", lower_bound=1)
    flags.DEFINE_integer("requests", 200, "Requests per thread.", lower_bound=1)
    flags.DEFINE_float("timeout", 30.0, "Seconds per request.", lower_bound=0.0)


def main(argv):
    """Runs the load; the exit code is 1 if a request failed or a PNG did not decode."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    with tempfile.TemporaryDirectory() as directory:
        base = FLAGS.model_base_path or build_stand_in(directory, FLAGS.model_name)
        log_path = os.path.join(directory, "server.log")
        print(f"serving.server on {base}: {FLAGS.threads} threads x {FLAGS.requests} "
              f"generate requests (batch 1)", flush=True)
        with ServerProcess(base, FLAGS.model_name, log_path=log_path) as server:
            result = run_load(server.target, server.pid, FLAGS.threads, FLAGS.requests,
                              FLAGS.model_name, FLAGS.timeout)
        _, undecodable = decode_pngs(result.pngs)
        print(report(result, undecodable))
        for index, error in result.errors[:5]:
            print(f"error in request {index}: {error}")
    return 1 if result.errors or undecodable else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
