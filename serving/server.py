"""A small TF Serving stand-in: gRPC PredictionService over a SavedModel base path.

For machines without `tensorflow_model_server` (tests, laptops). It serves one
model from `<base>/<model_name>/<version>/` with TF Serving's request and error
behaviour, and picks up new versions by polling the base path.

Usage:
    python -m serving.server --model_base_path runs/demo/export/fashion_t2i \
        --model_name fashion_t2i --port 8500
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
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.model_loader import ModelLoader
from serving.prediction_servicer import PredictionServicer

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


class PredictionServer:
    """Serves one model's PredictionService on host:port.

    Args:
        model_base_path: `<base>/<model_name>`, holding numbered versions.
        model_name: the name clients put in `model_spec.name`.
        host: the interface to bind; loopback unless told otherwise.
        port: the TCP port; 0 picks a free one, and `port` holds the bound
            port once `start()` returns.
        poll_seconds: wait between polls of the base path for new versions
            (TF Serving's --file_system_poll_wait_seconds); 0 polls only at
            start.
        max_batch: the largest batch a request may carry.
        max_workers: threads answering requests concurrently.
        num_versions: how many of the newest versions stay loaded (the
            `latest { num_versions }` version policy).
        max_message_mb: gRPC send and receive message limit in MB.

    Example:
        >>> server = PredictionServer("export/fashion_t2i", "fashion_t2i", port=0)
        >>> server.start()
        >>> stub_target = f"127.0.0.1:{server.port}"
        >>> server.stop()
    """

    def __init__(
        self,
        model_base_path,
        model_name="fashion_t2i",
        host="127.0.0.1",
        port=8500,
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
        self.poll_seconds = poll_seconds
        self.max_batch = max_batch
        self.max_workers = max_workers
        self.num_versions = num_versions
        self.max_message_mb = max_message_mb
        self.loader = ModelLoader(model_base_path, model_name, num_versions=num_versions)
        self._servicer = PredictionServicer(self.loader, max_batch=max_batch)
        self._server = None

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
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            bound_port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"Cannot bind {address} ({error}); choose another --port, or 0 for a free one.") from error
        if bound_port == 0:
            raise OSError(f"Cannot bind {address}; choose another --port, or 0 for a free one.")
        self.port = bound_port
        server.start()
        self._server = server
        if self.poll_seconds > 0:
            self.loader.start_polling(self.poll_seconds)
        logger.info(
            "Serving %s versions %s on %s:%d.", self.model_name, self.loader.versions(), self.host, self.port
        )

    def stop(self, grace=1.0):
        """Stops polling, finishes in-flight requests for `grace` seconds and unloads.

        Args:
            grace: seconds in-flight requests get before they are cancelled.
        """
        self.loader.stop_polling()
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.loader.unload_all()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()


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
    flags.DEFINE_float("poll_seconds", 2.0, "Base path poll interval; 0: only at start.", lower_bound=0.0)
    flags.DEFINE_integer("max_batch", 64, "Largest batch a request may carry.", lower_bound=1)
    flags.DEFINE_integer("max_workers", 8, "Concurrent request threads.", lower_bound=1)
    flags.DEFINE_integer("num_versions", 1, "Newest versions kept loaded.", lower_bound=1)
    flags.DEFINE_integer("max_message_mb", 64, "gRPC message size limit in MB.", lower_bound=1)
    flags.mark_flag_as_required("model_base_path")


def main(argv):
    """Runs the server until SIGINT or SIGTERM.

    Prints `listening on <host>:<port>` (flushed) once requests are accepted.

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
    stop_requested.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
