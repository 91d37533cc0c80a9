"""TF Serving's REST API (`/v1/models/...`), the metrics page and the design page, as one WSGI app.

Paths, JSON formats and HTTP statuses follow TF Serving's
`model_servers/http_rest_api_handler.cc`, `http_server.cc` and
`util/json_tensor.cc`:

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    predict
    GET  /monitoring/prometheus/metrics                          Prometheus metrics

A predict body names its `signature_name` (default "serving_default") and
carries either `instances` (row format: one entry per example, an object of
input values when the signature has several inputs) or `inputs` (columnar:
one batched value per input). String values are JSON strings or
`{"b64": "<base64>"}`. The answer is `{"predictions": [...]}` (row) or
`{"outputs": ...}` (columnar); string outputs whose name ends in `_bytes`
come back as `{"b64": ...}`. Errors are `{"error": "<message>"}` with the
HTTP status TF Serving maps the gRPC code to (INVALID_ARGUMENT and
FAILED_PRECONDITION 400, NOT_FOUND 404, ...).

Requests run through the same `PredictionServicer` and `ModelServicer` as
gRPC, so both APIs accept and reject the same requests with the same
messages. `/` and the files next to it serve the design page
(`serving/static/`), which talks only to the paths above.
"""

import base64
import binascii
import json
import os
import re
import time

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import predict_pb2
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response
from werkzeug.utils import send_from_directory

from serving import serving_metrics
from serving.prediction_servicer import DEFAULT_SIGNATURE
from serving.prediction_servicer import SIGNATURE_DEF_FIELD
from serving.prediction_servicer import check_input_names
from serving.serving_error import ServingError
from serving.serving_error import invalid_argument

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
METRICS_PATH = "/monitoring/prometheus/metrics"
BYTES_SUFFIX = "_bytes"
B64_KEY = "b64"
# TF Serving's ToHTTPStatusCode (model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_V1_PATH = re.compile(r"(?i)/v1/.*")
_MODEL = r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?"
_PREDICTION_PATH = re.compile(r"(?i)" + _MODEL + r":(classify|regress|predict)")
_STATUS_PATH = re.compile(r"(?i)/v1/models(?:/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?)?(/metadata)?")
_INTEGER_DTYPES = {
    types_pb2.DT_INT64: (np.int64, -(2**63), 2**63 - 1),
    types_pb2.DT_INT32: (np.int32, -(2**31), 2**31 - 1),
    types_pb2.DT_INT16: (np.int16, -(2**15), 2**15 - 1),
    types_pb2.DT_INT8: (np.int8, -(2**7), 2**7 - 1),
    types_pb2.DT_UINT8: (np.uint8, 0, 2**8 - 1),
}
_FLOAT_DTYPES = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}


class RestApi:
    """The WSGI application of the REST port.

    Args:
        prediction_servicer: the `PredictionServicer` that gRPC uses too.
        model_servicer: the `ModelServicer` that gRPC uses too.
        metrics: the `ServingMetrics` of both entry points, or None (then
            the metrics path answers 404).
        max_request_bytes: larger request bodies are refused (HTTP 413).
    """

    def __init__(self, prediction_servicer, model_servicer, metrics=None, max_request_bytes=64 * 1024 * 1024):
        self.prediction_servicer = prediction_servicer
        self.model_servicer = model_servicer
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_request_bytes
        try:
            response = self._dispatch(request)
        except HTTPException as error:
            response = _json_response({"error": error.description}, error.code)
        return response(environ, start_response)

    def _dispatch(self, request):
        path = request.path
        if _V1_PATH.fullmatch(path):
            return self._v1(request)
        if path == METRICS_PATH and self.metrics is not None:
            return Response(self.metrics.exposition(), mimetype="text/plain", content_type=serving_metrics.CONTENT_TYPE)
        if request.method in ("GET", "HEAD"):
            name = "index.html" if path == "/" else path.lstrip("/")
            if "/" not in name:
                try:
                    response = send_from_directory(STATIC_DIR, name, request.environ, max_age=0)
                except NotFound:
                    pass
                else:
                    response.headers["Cache-Control"] = "no-cache"
                    return response
        return _json_response({"error": f"Not found: {request.method} {path}"}, 404)

    def _v1(self, request):
        """Answers a /v1/ path; the API and model name label the metrics."""
        start = time.perf_counter()
        api, model_name = "", ""
        try:
            prediction = _PREDICTION_PATH.fullmatch(request.path)
            status = _STATUS_PATH.fullmatch(request.path)
            if request.method == "POST" and prediction:
                model_name, version, label, method = prediction.groups()
                api = method.capitalize()
                if method.lower() != "predict":
                    raise ServingError(
                        grpc.StatusCode.UNIMPLEMENTED,
                        f"{api} is not supported: the generator has only predict signatures.",
                    )
                body = self._predict(_model_spec(model_name, version, label), request.get_data())
            elif request.method == "GET" and status:
                model_name, version, label, metadata = status.groups()
                if not model_name:
                    raise invalid_argument("Missing model name in request.")
                model_spec = _model_spec(model_name, version, label)
                if metadata:
                    api = "GetModelMetadata"
                    body = self._metadata(model_spec)
                else:
                    api = "GetModelStatus"
                    body = self._status(model_spec)
            else:
                raise invalid_argument(f"Malformed request: {request.method} {request.path}")
            code = grpc.StatusCode.OK
        except ServingError as error:
            code, body = error.code, {"error": error.details}
        if self.metrics is not None and api:
            self.metrics.record(model_name, api, serving_metrics.REST, code.name, time.perf_counter() - start)
        return _json_response(body, HTTP_STATUS.get(code, 500))

    def _status(self, model_spec):
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=model_spec)
        response = self.model_servicer.model_status(request)
        return json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    def _metadata(self, model_spec):
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=model_spec, metadata_field=[SIGNATURE_DEF_FIELD]
        )
        response = self.prediction_servicer.metadata(request)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_def_map)
        return {
            "model_spec": json_format.MessageToDict(
                response.model_spec, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            ),
            "metadata": {
                SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_def_map, preserving_proto_field_name=True)
            },
        }

    def _predict(self, model_spec, body):
        document = _parse_json(body)
        signature_name = document.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise invalid_argument(
                f"JSON Value: {_short(document)} not formatted correctly. 'signature_name' key must be a "
                "string value."
            )
        model_spec.signature_name = signature_name
        model = self.prediction_servicer.resolve(model_spec)
        signature_name = signature_name or DEFAULT_SIGNATURE
        if signature_name not in model.signature_defs:
            raise invalid_argument(
                f'Serving signature name: "{signature_name}" not found in signature def. Signatures of '
                f"this model: {','.join(sorted(model.signature_defs))}."
            )
        input_infos = model.signature_defs[signature_name].inputs
        if "instances" in document and "inputs" in document:
            raise invalid_argument("Not formatted correctly: send only one of 'inputs' or 'instances'.")
        if "instances" in document:
            row_format = True
            arrays = _instances_to_arrays(document["instances"], input_infos)
        elif "inputs" in document:
            row_format = False
            arrays = _inputs_to_arrays(document["inputs"], input_infos, model.signature_defs[signature_name])
        else:
            raise invalid_argument("Missing 'inputs' or 'instances' key")
        request = predict_pb2.PredictRequest(model_spec=model_spec)
        for alias, array in arrays.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(array, dtype=tf.as_dtype(input_infos[alias].dtype)))
        response = self.prediction_servicer.predict(request)
        outputs = {alias: tf.make_ndarray(proto) for alias, proto in sorted(response.outputs.items())}
        return _row_json(outputs) if row_format else _columnar_json(outputs)


def _model_spec(name, version, label):
    model_spec = predict_pb2.PredictRequest().model_spec
    model_spec.name = name
    if version is not None:
        model_spec.version.value = int(version)
    elif label is not None:
        model_spec.version_label = label
    return model_spec


def _json_response(body, status):
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _short(value, limit=200):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_json(body):
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid_argument(f"JSON Parse error: {error}") from error
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_short(document)} Is not object")
    return document


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(B64_KEY), str)


def _is_named_object(value):
    return isinstance(value, dict) and not _is_b64(value)


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    return {str: "String", list: "Array", dict: "Object"}[type(value)]


def _type_error(value, dtype):
    dtype_name = types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()
    return invalid_argument(
        f"JSON Value: {_short(value)} Type: {_json_type(value)} is not of expected type: {dtype_name}"
    )


def _scalar(value, dtype):
    """One JSON leaf as a value of `dtype` (json_tensor.cc AddValueToTensor)."""
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if _is_b64(value):
            try:
                return base64.b64decode(value[B64_KEY], validate=True)
            except binascii.Error as error:
                raise invalid_argument(f"Unable to base64 decode: {_short(value)}") from error
        if isinstance(value, dict):
            raise invalid_argument(f"JSON Value: {_short(value)} not formatted correctly for base64 data")
        raise _type_error(value, dtype)
    if isinstance(value, bool):
        if dtype == types_pb2.DT_BOOL:
            return value
        raise _type_error(value, dtype)
    if dtype in _INTEGER_DTYPES:
        _, low, high = _INTEGER_DTYPES[dtype]
        if not isinstance(value, int) or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype in _FLOAT_DTYPES:
        if not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_BOOL:
        raise _type_error(value, dtype)
    raise ServingError(
        grpc.StatusCode.UNIMPLEMENTED,
        f"Conversion of JSON Value: {_short(value)} to type: {types_pb2.DataType.Name(dtype)}",
    )


def _to_array(value, dtype):
    """A JSON value (nested lists of leaves) as a dense numpy array (json_tensor.cc FillTensorProto)."""
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat = []

    def fill(item, level):
        if not isinstance(item, list):
            if level != len(shape):
                raise invalid_argument(
                    f"JSON Value: {_short(item)} found at incorrect level: {level + 1} in the JSON DOM. "
                    f"Expected at level: {len(shape)}"
                )
            flat.append(_scalar(item, dtype))
            return
        if level >= len(shape):
            raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
        if len(item) != shape[level]:
            raise invalid_argument(
                f"Encountered list at unexpected size: {len(item)} at level: {level} expected size: "
                f"{shape[level]}"
            )
        for element in item:
            fill(element, level + 1)

    fill(value, 0)
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    elif dtype in _INTEGER_DTYPES:
        array = np.array(flat, dtype=_INTEGER_DTYPES[dtype][0])
    elif dtype in _FLOAT_DTYPES:
        array = np.array(flat, dtype=_FLOAT_DTYPES[dtype])
    else:
        array = np.array(flat, dtype=bool)
    return array.reshape(shape)


def _instances_to_arrays(instances, input_infos):
    """The row format: a list with one entry per example (FillTensorMapFromInstancesList)."""
    if not isinstance(instances, list):
        raise invalid_argument("Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid_argument("No values in 'instances' array")
    names = sorted(input_infos)
    named = _is_named_object(instances[0])
    if not named and len(names) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required "
            f"as per tensorinfo_map ({','.join(names)})"
        )
    columns = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if named != _is_named_object(instance):
            kind = "object" if named else "value/list"
            raise invalid_argument(f"Expecting {kind} at item {index} of 'instances' list")
        items = instance if named else {names[0]: instance}
        for name, value in items.items():
            if name not in input_infos:
                raise invalid_argument(
                    f"Failed to process element: {index} key: {name} of 'instances' list. JSON object: does "
                    f"not have named input: {name}"
                )
            try:
                columns[name].append(_to_array(value, input_infos[name].dtype))
            except ServingError as error:
                raise ServingError(
                    error.code,
                    f"Failed to process element: {index} key: {name} of 'instances' list. Error: {error.details}",
                ) from error
        if set(items) != set(names):
            raise invalid_argument(
                f"Failed to process element: {index} of 'instances' list. JSON object: {_short(instance)} "
                f"keys must be equal to: {','.join(names)}"
            )
    arrays = {}
    for name, values in columns.items():
        shapes = {value.shape for value in values}
        if len(shapes) > 1:
            raise invalid_argument(f"Expecting shape {list(values[0].shape)} for every instance of {name}")
        arrays[name] = np.stack(values)
    return arrays


def _inputs_to_arrays(inputs, input_infos, signature_def):
    """The columnar format: one batched value per input (FillTensorMapFromInputsMap)."""
    if not _is_named_object(inputs):
        if len(input_infos) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as "
                f"per tensorinfo_map ({','.join(sorted(input_infos))})"
            )
        (name,) = input_infos
        return {name: _to_array(inputs, input_infos[name].dtype)}
    for name in sorted(input_infos):
        if name not in inputs and len(inputs) == len(input_infos):
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
    check_input_names(signature_def, inputs)
    return {name: _to_array(inputs[name], input_infos[name].dtype) for name in input_infos}


def _value_json(value, name):
    """A numpy value as JSON: `_bytes` strings as {"b64": ...}, other strings as text."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.tolist()
    if isinstance(value, np.ndarray):
        return [_value_json(item, name) for item in value]
    if isinstance(value, bytes):
        if name.endswith(BYTES_SUFFIX):
            return {B64_KEY: base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", errors="replace")
    return value.item() if isinstance(value, np.generic) else value


def _row_json(outputs):
    """{"predictions": [...]}: per example, the value of the one output or an object of all."""
    batch_sizes = {alias: array.shape[0] if array.ndim else None for alias, array in outputs.items()}
    if None in batch_sizes.values() or len(set(batch_sizes.values())) > 1:
        raise invalid_argument(
            f"Outputs have no common batch size ({batch_sizes}); ask for the columnar format ('inputs')."
        )
    (batch,) = set(batch_sizes.values())
    if len(outputs) == 1:
        ((alias, array),) = outputs.items()
        return {"predictions": [_value_json(array[i], alias) for i in range(batch)]}
    return {
        "predictions": [{alias: _value_json(array[i], alias) for alias, array in outputs.items()} for i in range(batch)]
    }


def _columnar_json(outputs):
    """{"outputs": ...}: the one output's value, or an object of all."""
    if len(outputs) == 1:
        ((alias, array),) = outputs.items()
        return {"outputs": _value_json(array, alias)}
    return {"outputs": {alias: _value_json(array, alias) for alias, array in outputs.items()}}
