"""REST next to gRPC: latency, errors and memory of `python -m serving.server` under 8 x 200 calls each.

Starts one server subprocess (both APIs share its loaded model), runs the
gRPC load of `benchmarks.serving_load` (`--threads` clients x `--requests`
seeded `generate` calls of batch 1), then the same load over TF Serving's
REST API (`POST /v1/models/<name>:predict`, row format, PNGs back as
`{"b64": ...}`), one `urllib` request after another per client thread. It
prints both loads' error counts, throughput, p50/p95/p99 latency and the
server's RSS before and after each.

Run:
    python -m benchmarks.rest_load [--model_base_path runs/demo/export/fashion_t2i] \\
        [--threads 8] [--requests 200]
"""

import base64
import json
import os
import tempfile
import urllib.error
import urllib.request

from absl import app
from absl import flags

from benchmarks import serving_load


def rest_generate(rest_url, model_name, texts, seeds, timeout):
    """One row-format `generate` call over REST; returns the PNG bytes of each text.

    Raises:
        urllib.error.HTTPError: the server answered an error status.
        OSError: the server could not be reached.
    """
    body = {"signature_name": "generate", "instances": [{"texts": t, "seeds": s} for t, s in zip(texts, seeds)]}
    request = urllib.request.Request(
        f"{rest_url}v1/models/{model_name}:predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        predictions = json.load(reply)["predictions"]
    return [base64.b64decode(p["png_bytes"]["b64"]) for p in predictions]


def run_rest_load(rest_url, server_pid, threads=8, requests=200, model_name="fashion_t2i", timeout=30.0):
    """Sends `threads` x `requests` seeded REST `generate` calls of one text concurrently.

    Returns:
        A `serving_load.LoadResult` (errors as "HTTP <status>: <error>").
    """
    total = threads * requests
    texts = [serving_load.CAPTIONS[i % len(serving_load.CAPTIONS)] for i in range(total)]
    seeds = list(range(total))
    pngs = [None] * total

    def send(_, index):
        (pngs[index],) = rest_generate(
            rest_url, model_name, texts[index : index + 1], seeds[index : index + 1], timeout
        )

    def describe(error):
        if isinstance(error, urllib.error.HTTPError):
            return f"HTTP {error.code}: {error.read()[:300]!r}"
        return None

    times = serving_load.timed_load(threads, requests, server_pid, send, describe=describe)
    return serving_load.LoadResult(texts=texts, seeds=seeds, pngs=pngs, **times)


def comparison(grpc_result, rest_result):
    """The side-by-side table of both loads."""
    rows = [("", "gRPC", "REST")]
    rows.append(("requests", str(grpc_result.requests), str(rest_result.requests)))
    rows.append(("errors", str(len(grpc_result.errors)), str(len(rest_result.errors))))
    rows.append(
        ("requests/s", f"{grpc_result.requests_per_second:.1f}", f"{rest_result.requests_per_second:.1f}")
    )
    for p in serving_load.PERCENTILES:
        rows.append((f"p{p} ms", f"{grpc_result.latency_ms(p):.1f}", f"{rest_result.latency_ms(p):.1f}"))
    for name, attribute in [("RSS before MB", "rss_idle"), ("RSS after MB", "rss_end")]:
        rows.append(
            (
                name,
                f"{getattr(grpc_result, attribute) / serving_load.MB:.1f}",
                f"{getattr(rest_result, attribute) / serving_load.MB:.1f}",
            )
        )
    return "\n".join(f"{a:<14}{b:>10}{c:>10}" for a, b, c in rows)


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m benchmarks.rest_load` in `absl.flags.FLAGS`.

    The same flags as `benchmarks.serving_load`, whose gRPC load this one repeats over REST.
    """
    serving_load.define_flags()


def main(argv):
    """Runs both loads; the exit code is 1 if a request failed or a PNG did not decode."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    with tempfile.TemporaryDirectory() as directory:
        base = FLAGS.model_base_path or serving_load.build_stand_in(directory, FLAGS.model_name)
        print(f"serving.server on {base}: {FLAGS.threads} threads x {FLAGS.requests} generate "
              "requests (batch 1), gRPC then REST", flush=True)
        log_path = os.path.join(directory, "server.log")
        with serving_load.ServerProcess(base, FLAGS.model_name, log_path=log_path) as server:
            grpc_result = serving_load.run_load(
                server.target, server.pid, FLAGS.threads, FLAGS.requests, FLAGS.model_name, FLAGS.timeout
            )
            rest_result = run_rest_load(
                server.rest_url, server.pid, FLAGS.threads, FLAGS.requests, FLAGS.model_name, FLAGS.timeout
            )
        undecodable = sum(serving_load.decode_pngs(r.pngs)[1] for r in (grpc_result, rest_result))
        print(comparison(grpc_result, rest_result))
        print(f"undecodable PNGs {undecodable}")
        for index, error in (grpc_result.errors + rest_result.errors)[:5]:
            print(f"error in request {index}: {error}")
    return 1 if grpc_result.errors or rest_result.errors or undecodable else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
