"""TF Serving's gRPC PredictionService (Predict, GetModelMetadata) over a ModelLoader.

Status codes and messages follow TF Serving's own sources (tensorflow/serving:
servables/tensorflow/predict_util.cc, predict_impl.cc, get_model_metadata_impl.cc,
model_servers/server_core.cc, core/manager.h, batching/batch_scheduler), so a
client written against this server behaves the same against
`tensorflow_model_server`. Where TF Serving leaves a check to the graph (dtype,
rank, empty batch), this server checks before running and answers
INVALID_ARGUMENT, as TF Serving does once the graph rejects the input.

A description without words is rejected here too, before the graph runs,
with a sentence that names it; an error the graph raises is answered with
its own message, without the graph's stack dump.
"""

import re
import unicodedata

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.serving_error import ServingError
from serving.serving_error import answer_grpc
from serving.serving_error import invalid_argument

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"
# The exported graph's text input: a batch of descriptions.
TEXTS_INPUT = "texts"
# A TensorProto may carry fewer values than its shape and be filled up with the
# last one, so a tiny message could expand without bound; no fashion_t2i input
# comes near this many elements.
_MAX_INPUT_ELEMENTS = 2**24
# TensorFlow and gRPC share status code numbers; TF Serving casts one to the other.
_GRPC_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
# The message of a failed tf.debugging assertion: "assertion failed: [message] [...]".
_ASSERTION_MESSAGE = re.compile(r"assertion failed: \[(.*?)\](?: |$)", re.MULTILINE)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers Predict and GetModelMetadata like TF Serving does.

    Classify, Regress and MultiInference stay UNIMPLEMENTED: the generator has
    only predict signatures.

    Args:
        loader: the `ModelLoader` holding the served versions.
        max_batch: the largest batch (0th dimension) a request may carry, like
            TF Serving's `max_batch_size` batching parameter.
        metrics: a `ServingMetrics` counting the requests, or None.

    Raises:
        ValueError: `max_batch` < 1.
    """

    def __init__(self, loader, max_batch=64, metrics=None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}.")
        self.loader = loader
        self.max_batch = max_batch
        self.metrics = metrics

    def Predict(self, request, context):
        """Runs one signature of the requested model version."""
        return answer_grpc(self.predict, request, context, "Predict", self.metrics)

    def GetModelMetadata(self, request, context):
        """Returns the model's SignatureDefMap packed under "signature_def"."""
        return answer_grpc(self.metadata, request, context, "GetModelMetadata", self.metrics)

    def predict(self, request):
        """The `PredictResponse` for a `PredictRequest` (the REST API calls this too).

        Raises:
            ServingError: the request is invalid, names no loaded servable, or
                the graph failed (with the graph's status code).
        """
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        model = self.resolve(request.model_spec)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature_name not in model.signatures:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{signature_name}" not found. '
                f"Signatures of this model: {_join(model.signatures)}.",
            )
        signature_def = model.signature_defs[signature_name]
        check_input_names(signature_def, request.inputs)
        output_aliases = _output_aliases(signature_def, request.output_filter)
        inputs = self._parse_inputs(signature_def, request.inputs)
        if TEXTS_INPUT in inputs and signature_def.inputs[TEXTS_INPUT].dtype == types_pb2.DT_STRING:
            check_descriptions(inputs[TEXTS_INPUT])
        try:
            outputs = model.run(signature_name, inputs)
        except tf.errors.OpError as error:
            raise ServingError(
                _GRPC_CODE_BY_NUMBER.get(error.error_code, grpc.StatusCode.INTERNAL), graph_error_message(error)
            ) from error
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = signature_name
        for alias in output_aliases:
            response.outputs[alias].CopyFrom(tf.make_tensor_proto(outputs[alias]))
        return response

    def metadata(self, request):
        """The `GetModelMetadataResponse` for a `GetModelMetadataRequest`.

        Raises:
            ServingError: the request is invalid or names no loaded servable.
        """
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(
                    f"Metadata field {field} is not supported; ask for '{SIGNATURE_DEF_FIELD}'."
                )
        model = self.resolve(request.model_spec)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in model.signature_defs.items():
            signature_def_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = model.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map)
        return response

    def resolve(self, model_spec):
        """Finds the `LoadedModel` a ModelSpec names (ServerCore::GetServableHandle).

        Raises:
            ServingError: INVALID_ARGUMENT without a name or with a version
                label; NOT_FOUND when no such version is loaded.
        """
        if not model_spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version_label":
            raise invalid_argument(
                "ModelSpec has 'version_label' set, but it is not currently allowed by the "
                "server. Set model_spec.version, or neither for the newest version.",
            )
        version = model_spec.version.value if choice == "version" else None
        model = self.loader.servable(model_spec.name, version)
        if model is None:
            request = (
                f"Specific({model_spec.name}, {version})" if version is not None else f"Latest({model_spec.name})"
            )
            raise ServingError(
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
                raise invalid_argument(
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
                raise invalid_argument(
                    f"tensor parsing error: {alias} ({error})"
                ) from error
        return arrays

    def _check_batch(self, batch_sizes):
        if len(set(batch_sizes.values())) > 1:
            sizes = ", ".join(f"{alias} has {size}" for alias, size in sorted(batch_sizes.items()))
            raise invalid_argument(
                f"Batching Run() input tensors must have equal 0th-dimension size: {sizes}.",
            )
        for alias, size in batch_sizes.items():
            if size == 0:
                raise invalid_argument(
                    f"Input {alias} has an empty batch; send at least one element.",
                )
            if size > self.max_batch:
                raise invalid_argument(
                    f"Task size {size} is larger than maximum input batch size {self.max_batch}; "
                    f"split the request into batches of at most {self.max_batch}.",
                )


def check_input_names(signature_def, request_inputs):
    """Rejects missing and extra inputs (VerifyRequestInputsSize, GetInputValues)."""
    sent = set(request_inputs)
    required = set(signature_def.inputs)
    if len(sent) != len(required):
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(required)} "
            f"len({{{_join(sent)}}}) != len({{{_join(required)}}}). "
            f"Sent extra: {{{_join(sent - required)}}}. "
            f"Missing but required: {{{_join(required - sent)}}}.",
        )
    missing = sorted(required - sent)
    if missing:
        alias = missing[0]
        raise invalid_argument(
            f"Signature input alias: {alias}(feed name: {signature_def.inputs[alias].name}) not "
            f"found in request and no default value provided. Inputs expected to be in the "
            f"request {{{_join(required)}}}; sent {{{_join(sent)}}}.",
        )


def _output_aliases(signature_def, output_filter):
    """Returns the outputs to send: `output_filter`, or every output."""
    seen = set()
    for alias in output_filter:
        if alias not in signature_def.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{_join(signature_def.outputs)}}}.",
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter) or list(signature_def.outputs)


def _check_shape(alias, shape_proto, expected_proto):
    """Returns the request shape as a list after checking it against the signature."""
    if shape_proto.unknown_rank:
        raise invalid_argument(f"Input {alias} has an unknown rank; set its shape.")
    shape = [dim.size for dim in shape_proto.dim]
    if any(size < 0 for size in shape):
        raise invalid_argument(f"Input {alias} has a negative dimension: {shape}.")
    if int(np.prod(shape, dtype=np.float64)) > _MAX_INPUT_ELEMENTS:
        raise invalid_argument(
            f"Input {alias} of shape {shape} has too many elements."
        )
    if not expected_proto.unknown_rank:
        expected = [dim.size for dim in expected_proto.dim]
        if len(shape) != len(expected) or any(e not in (-1, s) for e, s in zip(expected, shape)):
            raise invalid_argument(
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


def has_words(text):
    """Whether the graph finds a word in `text` (bytes or str).

    The graph's rule (fashion_t2i.text.normalization): invalid UTF-8 becomes
    U+FFFD, and every run of characters that is not a letter (\\p{L}) or a
    number (\\p{N}) separates words; a text with neither has no words.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return any(unicodedata.category(character)[0] in "LN" for character in text)


def check_descriptions(texts):
    """Rejects a batch holding a description without words, naming the first one.

    Args:
        texts: numpy array [B] of bytes.

    Raises:
        ServingError: INVALID_ARGUMENT, e.g. "Description 2 of 3 has no words: ...".
    """
    for index, text in enumerate(texts.reshape(-1)):
        if not has_words(text):
            raise invalid_argument(
                f"Description {index + 1} of {texts.size} has no words: write at least one letter "
                "or digit, e.g. 'a navy blue ankle boot'."
            )


def graph_error_message(error):
    """The message of a graph error without its stack dump.

    A failed `tf.debugging` assertion reads "Graph execution error: Detected
    at node assert_positive/... defined at (most recent call last): <stack>
    ... assertion failed: [<message>] [<values>] [[{{node ...}}]]"; only
    <message> says what was wrong. Other errors keep their last line without
    the node annotation.

    Args:
        error: a `tf.errors.OpError`.
    """
    message = error.message
    match = _ASSERTION_MESSAGE.search(message)
    if match:
        return match.group(1)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("[[")]
    if lines and lines[0].startswith("Graph execution error"):
        return lines[-1]
    return message
