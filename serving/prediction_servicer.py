"""TF Serving's gRPC PredictionService (Predict, GetModelMetadata) over a ModelLoader.

Status codes and messages follow TF Serving's own sources (tensorflow/serving:
servables/tensorflow/predict_util.cc, predict_impl.cc, get_model_metadata_impl.cc,
model_servers/server_core.cc, core/manager.h, batching/batch_scheduler), so a
client written against this server behaves the same against
`tensorflow_model_server`. Where TF Serving leaves a check to the graph (dtype,
rank, empty batch), this server checks before running and answers
INVALID_ARGUMENT, as TF Serving does once the graph rejects the input.
"""

import logging

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"
# TF Serving truncates status messages to this many characters (ToGRPCStatus).
_MAX_MESSAGE_CHARS = 1024
# A TensorProto may carry fewer values than its shape and be filled up with the
# last one, so a tiny message could expand without bound; no fashion_t2i input
# comes near this many elements.
_MAX_INPUT_ELEMENTS = 2**24
# TensorFlow and gRPC share status code numbers; TF Serving casts one to the other.
_GRPC_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class _RequestError(Exception):
    """A request failure with the gRPC status it maps to."""

    def __init__(self, code, details):
        super().__init__(details)
        self.code = code
        self.details = details


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers Predict and GetModelMetadata like TF Serving does.

    Classify, Regress and MultiInference stay UNIMPLEMENTED: the generator has
    only predict signatures.

    Args:
        loader: the `ModelLoader` holding the served versions.
        max_batch: the largest batch (0th dimension) a request may carry, like
            TF Serving's `max_batch_size` batching parameter.

    Raises:
        ValueError: `max_batch` < 1.
    """

    def __init__(self, loader, max_batch=64):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}.")
        self.loader = loader
        self.max_batch = max_batch

    def Predict(self, request, context):
        """Runs one signature of the requested model version."""
        return self._answer(self._predict, request, context)

    def GetModelMetadata(self, request, context):
        """Returns the model's SignatureDefMap packed under "signature_def"."""
        return self._answer(self._metadata, request, context)

    def _answer(self, handler, request, context):
        try:
            return handler(request)
        except _RequestError as error:
            code, details = error.code, error.details
        except Exception as error:  # A bug must cost one request, not the server.
            logger.exception("Unexpected error while serving a request.")
            code, details = grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}"
        if len(details) > _MAX_MESSAGE_CHARS:
            details = details[:_MAX_MESSAGE_CHARS] + "...TRUNCATED"
        context.abort(code, details)

    def _predict(self, request):
        if not request.HasField("model_spec"):
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        model = self._resolve(request.model_spec)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature_name not in model.signatures:
            raise _RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{signature_name}" not found. '
                f"Signatures of this model: {_join(model.signatures)}.",
            )
        signature_def = model.signature_defs[signature_name]
        _check_input_names(signature_def, request.inputs)
        output_aliases = _output_aliases(signature_def, request.output_filter)
        inputs = self._parse_inputs(signature_def, request.inputs)
        try:
            outputs = model.run(signature_name, inputs)
        except tf.errors.OpError as error:
            raise _RequestError(
                _GRPC_CODE_BY_NUMBER.get(error.error_code, grpc.StatusCode.INTERNAL), error.message
            ) from error
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = signature_name
        for alias in output_aliases:
            response.outputs[alias].CopyFrom(tf.make_tensor_proto(outputs[alias]))
        return response

    def _metadata(self, request):
        if not request.HasField("model_spec"):
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        if not request.metadata_field:
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "GetModelMetadataRequest must specify at least one metadata_field",
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise _RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Metadata field {field} is not supported; ask for '{SIGNATURE_DEF_FIELD}'.",
                )
        model = self._resolve(request.model_spec)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in model.signature_defs.items():
            signature_def_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = model.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map)
        return response

    def _resolve(self, model_spec):
        """Finds the servable a ModelSpec names (ServerCore::GetServableHandle)."""
        if not model_spec.name:
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version_label":
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "ModelSpec has 'version_label' set, but it is not currently allowed by the "
                "server. Set model_spec.version, or neither for the newest version.",
            )
        version = model_spec.version.value if choice == "version" else None
        model = self.loader.servable(model_spec.name, version)
        if model is None:
            request = (
                f"Specific({model_spec.name}, {version})" if version is not None else f"Latest({model_spec.name})"
            )
            raise _RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: {request}. This server serves model "
                f"'{self.loader.model_name}', loaded versions: {self.loader.versions()}.",
            )
        return model

    def _parse_inputs(self, signature_def, request_inputs):
        """Checks dtype, shape and batch size of every input, then converts it."""
        batch_sizes = {}
        for alias in sorted(signature_def.inputs):
            proto = request_inputs[alias]
            expected = signature_def.inputs[alias]
            if proto.dtype != expected.dtype:
                raise _RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Expects input {alias} to be {_dtype_name(expected.dtype)} but "
                    f"{_dtype_name(proto.dtype)} is provided.",
                )
            shape = _check_shape(alias, proto.tensor_shape, expected.tensor_shape)
            if expected.tensor_shape.dim and expected.tensor_shape.dim[0].size == -1:
                batch_sizes[alias] = shape[0]
        self._check_batch(batch_sizes)
        arrays = {}
        for alias in signature_def.inputs:
            try:
                arrays[alias] = tf.make_ndarray(request_inputs[alias])
            except (ValueError, TypeError) as error:
                raise _RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {alias} ({error})"
                ) from error
        return arrays

    def _check_batch(self, batch_sizes):
        if len(set(batch_sizes.values())) > 1:
            sizes = ", ".join(f"{alias} has {size}" for alias, size in sorted(batch_sizes.items()))
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Batching Run() input tensors must have equal 0th-dimension size: {sizes}.",
            )
        for alias, size in batch_sizes.items():
            if size == 0:
                raise _RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Input {alias} has an empty batch; send at least one element.",
                )
            if size > self.max_batch:
                raise _RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Task size {size} is larger than maximum input batch size {self.max_batch}; "
                    f"split the request into batches of at most {self.max_batch}.",
                )


def _check_input_names(signature_def, request_inputs):
    """Rejects missing and extra inputs (VerifyRequestInputsSize, GetInputValues)."""
    sent = set(request_inputs)
    required = set(signature_def.inputs)
    if len(sent) != len(required):
        raise _RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input size does not match signature: {len(sent)}!={len(required)} "
            f"len({{{_join(sent)}}}) != len({{{_join(required)}}}). "
            f"Sent extra: {{{_join(sent - required)}}}. "
            f"Missing but required: {{{_join(required - sent)}}}.",
        )
    missing = sorted(required - sent)
    if missing:
        alias = missing[0]
        raise _RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Signature input alias: {alias}(feed name: {signature_def.inputs[alias].name}) not "
            f"found in request and no default value provided. Inputs expected to be in the "
            f"request {{{_join(required)}}}; sent {{{_join(sent)}}}.",
        )


def _output_aliases(signature_def, output_filter):
    """Returns the outputs to send: `output_filter`, or every output."""
    seen = set()
    for alias in output_filter:
        if alias not in signature_def.outputs:
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{_join(signature_def.outputs)}}}.",
            )
        if alias in seen:
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter) or list(signature_def.outputs)


def _check_shape(alias, shape_proto, expected_proto):
    """Returns the request shape as a list after checking it against the signature."""
    if shape_proto.unknown_rank:
        raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Input {alias} has an unknown rank; set its shape.")
    shape = [dim.size for dim in shape_proto.dim]
    if any(size < 0 for size in shape):
        raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Input {alias} has a negative dimension: {shape}.")
    if int(np.prod(shape, dtype=np.float64)) > _MAX_INPUT_ELEMENTS:
        raise _RequestError(
            grpc.StatusCode.INVALID_ARGUMENT, f"Input {alias} of shape {shape} has too many elements."
        )
    if not expected_proto.unknown_rank:
        expected = [dim.size for dim in expected_proto.dim]
        if len(shape) != len(expected) or any(e not in (-1, s) for e, s in zip(expected, shape)):
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Input {alias} must have shape {expected} (-1: any size, rank {len(expected)}) "
                f"but has shape {shape}.",
            )
    return shape


def _dtype_name(dtype_enum):
    """Names a DataType enum as TensorFlow's DataTypeString does: DT_FLOAT -> "float"."""
    try:
        return types_pb2.DataType.Name(dtype_enum).removeprefix("DT_").lower()
    except ValueError:
        return f"unknown dtype {dtype_enum}"


def _join(names):
    return ",".join(sorted(names))
