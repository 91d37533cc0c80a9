"""The error every serving path raises for a request it cannot answer."""

import logging
import time

import grpc

logger = logging.getLogger(__name__)

# TF Serving truncates status messages to this many characters (ToGRPCStatus).
MAX_MESSAGE_CHARS = 1024


class ServingError(Exception):
    """A failed request, with the gRPC status code TF Serving would answer.

    The gRPC servicers abort with `code` and `details`; the REST API maps
    `code` to an HTTP status as TF Serving's `http_server.cc` does and sends
    `{"error": details}`.

    Args:
        code: a `grpc.StatusCode`.
        details: the message, cut to 1024 characters + "...TRUNCATED" like
            TF Serving's.
    """

    def __init__(self, code, details):
        if len(details) > MAX_MESSAGE_CHARS:
            details = details[:MAX_MESSAGE_CHARS] + "...TRUNCATED"
        super().__init__(details)
        self.code = code
        self.details = details


def invalid_argument(details):
    """A `ServingError` with INVALID_ARGUMENT, the code of most bad requests."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, details)


def answer_grpc(handler, request, context, api, metrics=None, entrypoint="GRPC"):
    """Runs `handler(request)` for a gRPC method and aborts with its error status.

    A `ServingError` aborts with its code and details; any other exception is
    logged and answered INTERNAL, so a bug costs one request, not the server.

    Args:
        handler: function request -> response proto.
        request: the request proto (its `model_spec.name` labels the metrics).
        context: the `grpc.ServicerContext`.
        api: the method name for the metrics, e.g. "Predict".
        metrics: a `ServingMetrics`, or None.
        entrypoint: the metrics' entry point label.
    """
    start = time.perf_counter()
    code, details, response = grpc.StatusCode.OK, "", None
    try:
        response = handler(request)
    except ServingError as error:
        code, details = error.code, error.details
    except Exception as error:  # A bug must cost one request, not the server.
        logger.exception("Unexpected error while serving a request.")
        code, details = grpc.StatusCode.INTERNAL, ServingError(code, f"{type(error).__name__}: {error}").details
    if metrics is not None:
        metrics.record(request.model_spec.name, api, entrypoint, code.name, time.perf_counter() - start)
    if code != grpc.StatusCode.OK:
        context.abort(code, details)
    return response
