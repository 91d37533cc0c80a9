"""Request counts and latencies, exported for Prometheus under TF Serving's names."""

import threading

import prometheus_client
from prometheus_client.core import Metric

# TF Serving's monitoring names ("/tensorflow/serving/request_count"), with
# every character outside [a-zA-Z0-9_] replaced by ":" as its Prometheus
# exporter (util/prometheus_exporter.cc) does.
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
# TF Serving's request latency buckets: Exponential(10, 1.8, 33) microseconds
# (10 us to about 20 minutes).
LATENCY_BUCKETS_MICROSECONDS = tuple(10.0 * 1.8**i for i in range(33))
GRPC = "GRPC"
REST = "REST"
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


class ServingMetrics:
    """Counts and times every request of the gRPC and REST entry points.

    Exposes, in Prometheus' text format:
    - `:tensorflow:serving:request_count{model_name, API, entrypoint, status}`:
      requests by model, API ("Predict", "GetModelMetadata",
      "GetModelStatus"), entry point ("GRPC" or "REST") and status code name
      ("OK", "INVALID_ARGUMENT", ...). TF Serving's own counter has only
      `model_name` and `status`; the extra labels leave queries that sum over
      those two unchanged. Written like TF Serving's exporter writes it (no
      `_total` suffix; prometheus_client would add one to a `Counter`, so the
      count is collected here and typed "untyped").
    - `:tensorflow:serving:request_latency{model_name, API, entrypoint}`: a
      histogram of wall time in microseconds, with TF Serving's buckets.
    """

    def __init__(self):
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._counts = {}
        self.registry.register(_CountCollector(self))
        self._latency = prometheus_client.Histogram(
            REQUEST_LATENCY,
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS_MICROSECONDS,
            registry=self.registry,
        )
        # TF Serving exports no `_created` series.
        prometheus_client.disable_created_metrics()

    def record(self, model_name, api, entrypoint, status, seconds):
        """Counts one request and its latency.

        Args:
            model_name: the requested model name (as sent).
            api: "Predict", "GetModelMetadata" or "GetModelStatus".
            entrypoint: `GRPC` or `REST`.
            status: the status code name, e.g. "OK" or "NOT_FOUND".
            seconds: wall time of the request.
        """
        key = (model_name, api, entrypoint, status)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
        self._latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def counts(self):
        """{(model_name, api, entrypoint, status): count} so far."""
        with self._lock:
            return dict(self._counts)

    def exposition(self):
        """The metrics page: bytes in Prometheus' text format (`CONTENT_TYPE`)."""
        return prometheus_client.generate_latest(self.registry)


class _CountCollector:
    def __init__(self, metrics):
        self._metrics = metrics

    def collect(self):
        family = Metric(REQUEST_COUNT, "The total number of requests.", "unknown")
        for (model_name, api, entrypoint, status), count in sorted(self._metrics.counts().items()):
            labels = {"model_name": model_name, "API": api, "entrypoint": entrypoint, "status": status}
            family.add_sample(REQUEST_COUNT, labels, count)
        yield family
