"""A small TF Serving stand-in: gRPC and REST APIs over a SavedModel base path.

For machines without `tensorflow_model_server` (tests, laptops). It serves one
model from `<base>/<model_name>/<version>/` with TF Serving's request and error
behaviour over gRPC (PredictionService, ModelService) and REST (`/v1/models`,
Prometheus metrics), plus the design page at `/` of the REST port, and picks up
new versions by polling the base path.

Usage:
    python -m serving.server --model_base_path runs/demo/export/fashion_t2i \
        --model_name fashion_t2i --port 8500 --rest_api_port 8501
"""

import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from absl import app
from absl import flags
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from serving.model_loader import ModelLoader
from serving.model_servicer import ModelServicer
from serving.prediction_servicer import PredictionServicer
from serving.rest_api import RestApi
from serving.serving_metrics import ServingMetrics

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


class PredictionServer:
    """Serves one model over gRPC on host:port and REST on host:rest_api_port.

    Args:
        model_base_path: `<base>/<model_name>`, holding numbered versions.
        model_name: the name clients put in `model_spec.name`.
        host: the interface to bind; loopback unless told otherwise.
        port: the gRPC TCP port; 0 picks a free one, and `port` holds the
            bound port once `start()` returns.
        rest_api_port: the REST (HTTP/1.1) port, TF Serving's
            `--rest_api_port`; 0 picks a free one (`rest_api_port` holds it
            after `start()`), None serves no REST API. It shares the loaded
            models, the request checks and the metrics with gRPC.
        poll_seconds: wait between polls of the base path for new versions
            (TF Serving's --file_system_poll_wait_seconds); 0 polls only at
            start.
        max_batch: the largest batch a request may carry.
        max_workers: threads answering requests concurrently.
        num_versions: how many of the newest versions stay loaded (the
            `latest { num_versions }` version policy).
        max_message_mb: gRPC send and receive message limit in MB, and the
            largest REST request body.

    Example:
        >>> server = PredictionServer("export/fashion_t2i", "fashion_t2i", port=0, rest_api_port=0)
        >>> server.start()
        >>> stub_target = f"127.0.0.1:{server.port}"
        >>> page = f"http://127.0.0.1:{server.rest_api_port}/"
        >>> server.stop()
    """

    def __init__(
        self,
        model_base_path,
        model_name="fashion_t2i",
        host="127.0.0.1",
        port=8500,
        rest_api_port=None,
        poll_seconds=2.0,
        max_batch=64,
        max_workers=8,
        num_versions=1,
        max_message_mb=64,
    ):
        if poll_seconds < 0:
            raise ValueError(f"poll_seconds must be >= 0, got {poll_seconds}.")
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}.")
        if max_message_mb < 1:
            raise ValueError(f"max_message_mb must be >= 1, got {max_message_mb}.")
        self.model_base_path = model_base_path
        self.model_name = model_name
        self.host = host
        self.port = port
        self.rest_api_port = rest_api_port
        self.poll_seconds = poll_seconds
        self.max_batch = max_batch
        self.max_workers = max_workers
        self.num_versions = num_versions
        self.max_message_mb = max_message_mb
        self.loader = ModelLoader(model_base_path, model_name, num_versions=num_versions)
        self.metrics = ServingMetrics()
        self._servicer = PredictionServicer(self.loader, max_batch=max_batch, metrics=self.metrics)
        self._model_servicer = ModelServicer(self.loader, metrics=self.metrics)
        self._server = None
        self._rest_server = None
        self._rest_thread = None

    def start(self):
        """Loads the newest version(s), binds the port and starts serving.

        Returns once the model is loaded and the port accepts requests. With
        no version exported yet the server still starts and answers NOT_FOUND
        until polling finds one.

        Raises:
            FileNotFoundError: `model_base_path` is not a directory.
            OSError: the port cannot be bound.
            RuntimeError: already started.
        """
        if self._server is not None:
            raise RuntimeError("PredictionServer is already started; call stop() first.")
        if not os.path.isdir(self.model_base_path):
            raise FileNotFoundError(
                f"Model base path {self.model_base_path} is not a directory; pass "
                f"--model_base_path <base>/{self.model_name} (holding version directories 1/, 2/, ...)."
            )
        self.loader.poll()
        if not self.loader.versions():
            logger.warning(
                "No versions of servable %s found under base path %s; answering NOT_FOUND until one is "
                "exported there.",
                self.model_name,
                self.model_base_path,
            )
        message_bytes = self.max_message_mb * MEGABYTE
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="predict"),
            options=[
                ("grpc.max_send_message_length", message_bytes),
                ("grpc.max_receive_message_length", message_bytes),
                # Without this, a second server could silently share a busy port.
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self._servicer, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(self._model_servicer, server)
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            bound_port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"Cannot bind {address} ({error}); choose another --port, or 0 for a free one.") from error
        if bound_port == 0:
            raise OSError(f"Cannot bind {address}; choose another --port, or 0 for a free one.")
        self.port = bound_port
        if self.rest_api_port is not None:
            try:
                self._start_rest(message_bytes)
            except OSError:
                server.stop(None)
                raise
        server.start()
        self._server = server
        if self.poll_seconds > 0:
            self.loader.start_polling(self.poll_seconds)
        logger.info(
            "Serving %s versions %s on %s:%d (gRPC), REST port %s.",
            self.model_name,
            self.loader.versions(),
            self.host,
            self.port,
            self.rest_api_port,
        )

    def _start_rest(self, max_request_bytes):
        """Binds the REST port and answers it from a thread per request."""
        app = RestApi(self._servicer, self._model_servicer, self.metrics, max_request_bytes=max_request_bytes)
        try:
            rest_server = make_server(
                self.host, self.rest_api_port, app, threaded=True, request_handler=_QuietRequestHandler
            )
        except (OSError, SystemExit) as error:
            raise OSError(
                f"Cannot bind {self.host}:{self.rest_api_port} for the REST API ({error}); choose another "
                "--rest_api_port, or 0 for a free one."
            ) from None
        self.rest_api_port = rest_server.server_port
        self._rest_server = rest_server
        self._rest_thread = threading.Thread(target=rest_server.serve_forever, name="rest-api", daemon=True)
        self._rest_thread.start()

    def stop(self, grace=1.0):
        """Stops polling, finishes in-flight requests for `grace` seconds and unloads.

        Args:
            grace: seconds in-flight requests get before they are cancelled.
        """
        self.loader.stop_polling()
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
            self._rest_thread.join()
            self._rest_server = self._rest_thread = None
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.loader.unload_all()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs failed HTTP exchanges only, not a line per request."""

    def log_request(self, *args, **kwargs):
        pass


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m serving.server` in `absl.flags.FLAGS`.

    Called only when this module runs as the program, so that importing
    `PredictionServer` never adds flags that could collide with another tool's.
    """
    flags.DEFINE_string("model_base_path", None, "<base>/<model_name>, holding version dirs.")
    flags.DEFINE_string("model_name", "fashion_t2i", "Name clients send in model_spec.name.")
    flags.DEFINE_string("host", "127.0.0.1", "Interface to bind (default loopback only).")
    flags.DEFINE_integer("port", 8500, "gRPC port; 0 picks a free one.", lower_bound=0)
    flags.DEFINE_integer(
        "rest_api_port", 8501, "REST API and design page port; 0 picks a free one, -1 serves no REST.", lower_bound=-1
    )
    flags.DEFINE_float("poll_seconds", 2.0, "Base path poll interval; 0: only at start.", lower_bound=0.0)
    flags.DEFINE_integer("max_batch", 64, "Largest batch a request may carry.", lower_bound=1)
    flags.DEFINE_integer("max_workers", 8, "Concurrent request threads.", lower_bound=1)
    flags.DEFINE_integer("num_versions", 1, "Newest versions kept loaded.", lower_bound=1)
    flags.DEFINE_integer("max_message_mb", 64, "gRPC message size limit in MB.", lower_bound=1)
    flags.mark_flag_as_required("model_base_path")


def main(argv):
    """Runs the server until SIGINT or SIGTERM.

    Prints `listening on <host>:<port>` (flushed) once requests are accepted,
    then `REST API and design page on http://<host>:<rest_api_port>/` when
    the REST port is served.

    Returns:
        The process exit code: 0 after a clean stop, 1 if the server could
        not start.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        server = PredictionServer(
            model_base_path=FLAGS.model_base_path,
            model_name=FLAGS.model_name,
            host=FLAGS.host,
            port=FLAGS.port,
            rest_api_port=None if FLAGS.rest_api_port < 0 else FLAGS.rest_api_port,
            poll_seconds=FLAGS.poll_seconds,
            max_batch=FLAGS.max_batch,
            max_workers=FLAGS.max_workers,
            num_versions=FLAGS.num_versions,
            max_message_mb=FLAGS.max_message_mb,
        )
        server.start()
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    print(f"listening on {FLAGS.host}:{server.port}", flush=True)
    if server.rest_api_port is not None:
        print(f"REST API and design page on http://{FLAGS.host}:{server.rest_api_port}/", flush=True)
    stop_requested.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
