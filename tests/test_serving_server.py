"""Tests of serving.server: TF Serving's PredictionService over a stand-in model.

Every call goes through the real `PredictionServiceStub` over loopback gRPC.
"""

import concurrent.futures
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
import serving_fixtures
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.loaded_model import LoadedModel
from serving.model_loader import ModelLoader
from serving.server import PredictionServer

MODEL_NAME = "fashion_t2i"
MAX_BATCH = 4
POLL_SECONDS = 0.2
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def staged_versions(tmp_path_factory):
    """Two complete stand-in exports (salts 0 and 1) to copy into base paths."""
    staging = tmp_path_factory.mktemp("staging")
    return {
        1: serving_fixtures.build_stand_in_model(str(staging / "v1"), salt=0),
        2: serving_fixtures.build_stand_in_model(str(staging / "v2"), salt=1),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory, staged_versions):
    base = tmp_path_factory.mktemp("export") / MODEL_NAME
    shutil.copytree(staged_versions[1], base / "1")
    server = PredictionServer(str(base), MODEL_NAME, port=0, poll_seconds=POLL_SECONDS, max_batch=MAX_BATCH)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def make_request(signature="serving_default", model=MODEL_NAME, version=None, output_filter=(), **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for alias, proto in inputs.items():
        request.inputs[alias].CopyFrom(proto)
    request.output_filter.extend(output_filter)
    return request


def texts(*values):
    return tf.make_tensor_proto(list(values), dtype=tf.string)


def seeds(*values):
    return tf.make_tensor_proto(list(values), dtype=tf.int64)


def good_request():
    return make_request(texts=texts(b"a navy blue ankle boot"))


def metadata_request(model=MODEL_NAME, fields=("signature_def",)):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model
    request.metadata_field.extend(fields)
    return request


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def pngs_of(response):
    return [bytes(png) for png in tf.make_ndarray(response.outputs["png_bytes"])]


def wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS / 2)
    return condition()


def test_serving_default_returns_decodable_pngs(stub):
    response = stub.Predict(make_request(texts=texts(b"a red pullover", b"a navy blue ankle boot")), timeout=10)

    assert response.model_spec.name == MODEL_NAME
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    images = tf.make_ndarray(response.outputs["images"])
    assert images.dtype == np.uint8 and images.shape == (2, 8, 8, 3)
    decoded = [tf.io.decode_png(png).numpy() for png in pngs_of(response)]
    np.testing.assert_array_equal(np.stack(decoded), images)
    assert not np.array_equal(images[0], images[1])


def test_generate_is_deterministic_per_seed(stub):
    def generate(seed):
        return pngs_of(stub.Predict(make_request("generate", texts=texts(b"a red dress"), seeds=seeds(seed)), timeout=10))

    assert generate(7) == generate(7)
    assert generate(7) != generate(8)


def test_attention_returns_maps_and_tokens(stub):
    response = stub.Predict(make_request("attention", texts=texts(b"a red dress"), seeds=seeds(1)), timeout=10)

    attention = tf.make_ndarray(response.outputs["attention"])
    tokens = tf.make_ndarray(response.outputs["tokens"])
    assert attention.dtype == np.float32 and attention.shape == (1, serving_fixtures.MAX_WORDS, 4, 4)
    assert tokens.tolist() == [[b"a", b"red", b"dress", b""]]


@pytest.mark.parametrize("signature", serving_fixtures.SIGNATURES)
def test_every_signature_returns_tokens_and_words(stub, signature):
    inputs = {"texts": texts(serving_fixtures.UNKNOWN_TEXT.encode())}
    if signature != "serving_default":
        inputs["seeds"] = seeds(1)
    response = stub.Predict(make_request(signature, **inputs), timeout=10)

    words = tf.make_ndarray(response.outputs["words"])
    tokens = tf.make_ndarray(response.outputs["tokens"])
    assert words.tolist() == [[w.encode() for w in serving_fixtures.UNKNOWN_TEXT_WORDS]]
    assert tokens.tolist() == [[t.encode() for t in serving_fixtures.UNKNOWN_TEXT_TOKENS]]


def test_output_filter_returns_only_named_outputs(stub):
    response = stub.Predict(make_request(output_filter=["png_bytes"], texts=texts(b"a coat")), timeout=10)

    assert set(response.outputs) == {"png_bytes"}


def test_metadata_lists_the_three_signatures(stub):
    response = stub.GetModelMetadata(metadata_request(), timeout=10)

    signature_def_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_def_map)
    assert set(serving_fixtures.SIGNATURES) <= set(signature_def_map.signature_def)
    assert response.model_spec.version.value == 1
    generate = signature_def_map.signature_def["generate"]
    assert generate.inputs["texts"].dtype == tf.string.as_datatype_enum
    assert generate.inputs["seeds"].dtype == tf.int64.as_datatype_enum
    assert set(generate.outputs) == {"images", "png_bytes", "tokens", "words"}


BAD_PREDICTS = {
    "wrong input name": (make_request(text=texts(b"a")), INVALID, "texts"),
    "float texts": (make_request(texts=tf.make_tensor_proto([1.0])), INVALID, "to be string but float is provided"),
    "int32 seeds": (
        make_request("generate", texts=texts(b"a"), seeds=tf.make_tensor_proto([1], dtype=tf.int32)),
        INVALID,
        "to be int64 but int32 is provided",
    ),
    "extra input": (make_request(texts=texts(b"a"), seeds=seeds(1)), INVALID, "Sent extra: {seeds}"),
    "missing input": (make_request("generate", texts=texts(b"a")), INVALID, "Missing but required: {seeds}"),
    "empty batch": (make_request(texts=tf.make_tensor_proto([], dtype=tf.string)), INVALID, "empty batch"),
    "over max batch": (
        make_request(texts=texts(*[b"a"] * (MAX_BATCH + 1))),
        INVALID,
        f"larger than maximum input batch size {MAX_BATCH}",
    ),
    "rank 2 texts": (make_request(texts=tf.make_tensor_proto([[b"a"]])), INVALID, "must have shape [-1]"),
    "scalar text": (make_request(texts=tf.make_tensor_proto(b"a")), INVALID, "must have shape [-1]"),
    "mismatched batches": (
        make_request("generate", texts=texts(b"a", b"b"), seeds=seeds(1, 2, 3)),
        INVALID,
        "equal 0th-dimension size",
    ),
    "unknown output": (make_request(output_filter=["pngs"], texts=texts(b"a")), INVALID, "alias not found"),
    "duplicate output": (
        make_request(output_filter=["png_bytes", "png_bytes"], texts=texts(b"a")),
        INVALID,
        "duplicate",
    ),
    "empty description": (make_request(texts=texts(b"a coat", b"")), INVALID, "Description 2 of 2 has no words"),
    "wordless description": (make_request(texts=texts(b" ... !? ")), INVALID, "Description 1 of 1 has no words"),
    "unknown signature": (
        make_request("sample", texts=texts(b"a")),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "sample" not found',
    ),
    "unknown model": (
        make_request(model="other", texts=texts(b"a")),
        NOT_FOUND,
        "Servable not found for request: Latest(other)",
    ),
    "model name escaping the base path": (
        make_request(model="../fashion_t2i", texts=texts(b"a")),
        NOT_FOUND,
        "Servable not found",
    ),
    "missing version": (
        make_request(version=7, texts=texts(b"a")),
        NOT_FOUND,
        "Servable not found for request: Specific(fashion_t2i, 7)",
    ),
    "no model name": (make_request(model="", texts=texts(b"a")), INVALID, "no name"),
    "missing model spec": (predict_pb2.PredictRequest(), INVALID, "Missing ModelSpec"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICTS))
def test_bad_predict_is_rejected_and_server_keeps_serving(stub, case):
    request, code, fragment = BAD_PREDICTS[case]

    error = rpc_error(lambda: stub.Predict(request, timeout=10))

    assert error.code() == code, error.details()
    assert fragment in error.details()
    assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1


def test_version_label_is_rejected(stub):
    request = good_request()
    request.model_spec.version_label = "stable"

    error = rpc_error(lambda: stub.Predict(request, timeout=10))

    assert error.code() == INVALID
    assert "version_label" in error.details()


@pytest.mark.parametrize(
    "request_, code",
    [
        (metadata_request(model="other"), NOT_FOUND),
        (metadata_request(fields=("signature_defs",)), INVALID),
        (metadata_request(fields=()), INVALID),
        (get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]), INVALID),
    ],
    ids=["unknown model", "unknown field", "no field", "no model spec"],
)
def test_bad_metadata_request_is_rejected(stub, request_, code):
    assert rpc_error(lambda: stub.GetModelMetadata(request_, timeout=10)).code() == code


@pytest.mark.parametrize(
    "text",
    [b"\xff\xfe\xc3\x28 not utf-8", b"\x00" * 8 + b"coat", ("long " * 200_000).encode()],
    ids=["invalid utf-8", "nul bytes", "1 MB text"],
)
def test_hostile_texts_do_not_kill_the_server(stub, text):
    response = stub.Predict(make_request(texts=texts(text, b"a coat")), timeout=20)

    assert len(pngs_of(response)) == 2
    assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1


@pytest.fixture(scope="module")
def real_stub(tmp_path_factory):
    """A server over the real exported graph of an untrained tiny model."""
    base = tmp_path_factory.mktemp("real_export")
    serving_fixtures.build_real_export(str(base), MODEL_NAME)
    with PredictionServer(str(base / MODEL_NAME), MODEL_NAME, port=0, poll_seconds=0, max_batch=MAX_BATCH) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _is_a_sentence(details):
    """A message for a person: words, one line, no graph node or stack dump."""
    return (
        len(details.split()) >= 4
        and details[0].isalpha()
        and "\n" not in details
        and "[[" not in details
        and "node" not in details
        and "Traceback" not in details
    )


# (text, has words): a text with a letter or digit gets an image, one without
# gets INVALID_ARGUMENT with a sentence saying what to write.
REAL_HOSTILE_TEXTS = {
    "empty": (b"", False),
    "only punctuation": (b"?!... -- ;", False),
    "only emoji": ("\U0001f457\u2728".encode(), False),
    "emoji between words": ("red \U0001f457 dress".encode(), True),
    "invalid utf-8 only": (b"\xff\xfe\xc3\x28", False),
    "invalid utf-8 and words": (b"\xff\xfe red dress \xc3\x28", True),
    "nul bytes only": (b"\x00" * 8, False),
    "nul bytes between words": (b"red\x00\x00striped\x00dress", True),
    "1 MB text": (("long red dress " * 70_000).encode(), True),
    "other scripts": ("\u7ea2\u8272\u8fde\u8863\u88d9 ROBE \u00c9T\u00c9".encode(), True),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REAL_HOSTILE_TEXTS))
def test_hostile_texts_through_the_real_graph(real_stub, case):
    text, has_words = REAL_HOSTILE_TEXTS[case]
    request = make_request("generate", texts=texts(text), seeds=seeds(3))

    if has_words:
        response = real_stub.Predict(request, timeout=60)
        (png,) = pngs_of(response)
        assert tf.io.decode_png(png).shape == (32, 32, 3)
    else:
        error = rpc_error(lambda: real_stub.Predict(request, timeout=60))
        assert error.code() == INVALID, error.details()
        assert _is_a_sentence(error.details()), error.details()
        assert "letter or digit" in error.details()
    # The server keeps answering.
    good = make_request("generate", texts=texts(b"a red striped dress"), seeds=seeds(1))
    assert len(pngs_of(real_stub.Predict(good, timeout=60))) == 1


@pytest.mark.parametrize("method", ["Classify", "Regress", "MultiInference"])
def test_classify_regress_and_multi_inference_are_unimplemented(stub, method):
    request = {
        "Classify": classification_pb2.ClassificationRequest,
        "Regress": regression_pb2.RegressionRequest,
        "MultiInference": inference_pb2.MultiInferenceRequest,
    }[method]()

    error = rpc_error(lambda: getattr(stub, method)(request, timeout=10))

    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error.details()
    assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1


def test_an_unexpected_exception_in_the_model_is_internal_and_costs_one_request(stub, monkeypatch, caplog):
    run = LoadedModel.run

    def run_or_fail(self, signature_name, inputs):
        if inputs["texts"][0] == b"explode":
            raise RuntimeError("the model broke")
        return run(self, signature_name, inputs)

    monkeypatch.setattr(LoadedModel, "run", run_or_fail)

    error = rpc_error(lambda: stub.Predict(make_request(texts=texts(b"explode")), timeout=10))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "RuntimeError: the model broke"
    assert "Unexpected error" in caplog.text
    assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1


def _proto(dtype, shape, **fields):
    """A TensorProto built field by field, as a client may (mis)build it."""
    proto = tensor_pb2.TensorProto(dtype=dtype)
    if shape is None:
        proto.tensor_shape.unknown_rank = True
    else:
        for size in shape:
            proto.tensor_shape.dim.add(size=size)
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(proto, name).extend(value)
        else:
            setattr(proto, name, value)
    return proto


INT64 = types_pb2.DT_INT64
STRING = types_pb2.DT_STRING
MALFORMED_TENSORS = {
    "seeds tensor_content of the wrong length": (
        {"seeds": _proto(INT64, [1], tensor_content=b"\x01" * 5)},
        "tensor parsing error: seeds",
    ),
    "seeds tensor_content for fewer values than the shape": (
        {"texts": texts(b"a coat", b"a dress"), "seeds": _proto(INT64, [2], tensor_content=b"\x01" * 8)},
        "tensor parsing error: seeds",
    ),
    "more texts than the shape holds": (
        {"texts": _proto(STRING, [1], string_val=[b"a", b"b"])},
        "tensor parsing error: texts",
    ),
    "unknown dtype enum": ({"texts": _proto(999, [1], string_val=[b"a"])}, "unknown dtype 999"),
    "unknown rank": ({"texts": _proto(STRING, None, string_val=[b"a"])}, "unknown rank"),
    "negative dimension": ({"texts": _proto(STRING, [-1], string_val=[b"a"])}, "negative dimension"),
    "too many elements": ({"texts": _proto(STRING, [2**40], string_val=[b"a"])}, "too many elements"),
    "too many elements in a product": (
        {"seeds": _proto(INT64, [2**13, 2**12], int64_val=[1])},
        "too many elements",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_TENSORS))
def test_malformed_tensors_are_invalid_arguments(stub, case):
    inputs, fragment = MALFORMED_TENSORS[case]
    full = {"texts": texts(b"a coat"), "seeds": seeds(1), **inputs}

    error = rpc_error(lambda: stub.Predict(make_request("generate", **full), timeout=10))

    assert error.code() == INVALID, error.details()
    assert fragment in error.details()
    assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1


class RejectingModel(tf.Module):
    """Raises InvalidArgumentError inside the graph for a text longer than 3 bytes."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(self, texts):
        lengths = tf.strings.length(texts)
        with tf.control_dependencies([tf.debugging.assert_less(lengths, 4, message="text too long")]):
            return {"lengths": tf.identity(lengths)}


def test_graph_errors_keep_their_status_code_and_lose_the_graph_dump(tmp_path):
    module = RejectingModel()
    tf.saved_model.save(module, str(tmp_path / MODEL_NAME / "1"), signatures={"serving_default": module.serve})
    with PredictionServer(str(tmp_path / MODEL_NAME), MODEL_NAME, port=0, poll_seconds=0) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            error = rpc_error(lambda: stub.Predict(make_request(texts=texts(b"a", b"abcdef")), timeout=10))
            ok = stub.Predict(make_request(texts=texts(b"abc")), timeout=10)

    assert error.code() == INVALID
    assert error.details() == "text too long"
    assert tf.make_ndarray(ok.outputs["lengths"]).tolist() == [3]


def test_concurrent_requests_all_succeed(stub):
    def call(index):
        request = make_request("generate", texts=texts(b"a coat", b"a shirt"), seeds=seeds(index, index + 1))
        return pngs_of(stub.Predict(request, timeout=20))

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(32)))

    assert all(len(pngs) == 2 for pngs in results)
    assert results[3] == call(3)


def test_new_version_is_served_without_restart(tmp_path, staged_versions, caplog):
    base = tmp_path / MODEL_NAME
    shutil.copytree(staged_versions[1], base / "1")
    with PredictionServer(str(base), MODEL_NAME, port=0, poll_seconds=POLL_SECONDS, num_versions=2) as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        before = stub.Predict(good_request(), timeout=10)

        # A half-written export (no saved_model.pb yet) must be ignored.
        shutil.copytree(os.path.join(staged_versions[2], "variables"), base / "2" / "variables")
        time.sleep(3 * POLL_SECONDS)
        assert stub.Predict(good_request(), timeout=10).model_spec.version.value == 1
        assert not [record for record in caplog.records if record.levelno >= logging.WARNING]

        shutil.copytree(staged_versions[2], base / "2", dirs_exist_ok=True)
        assert wait_for(lambda: server.loader.versions() == [1, 2], timeout=10 * POLL_SECONDS + 5)
        after = stub.Predict(good_request(), timeout=10)
        pinned = stub.Predict(make_request(version=1, texts=texts(b"a navy blue ankle boot")), timeout=10)
        channel.close()

    assert after.model_spec.version.value == 2
    assert pngs_of(after) != pngs_of(before)
    assert pinned.model_spec.version.value == 1 and pngs_of(pinned) == pngs_of(before)


def test_loader_keeps_newest_version_and_survives_a_broken_export(tmp_path, staged_versions):
    base = tmp_path / MODEL_NAME
    shutil.copytree(staged_versions[1], base / "1")
    loader = ModelLoader(str(base), MODEL_NAME, num_versions=1)
    assert loader.poll() == [1]

    shutil.copytree(staged_versions[2], base / "2")
    assert loader.poll() == [2]
    assert loader.versions() == [2]
    assert loader.servable(MODEL_NAME, 1) is None

    (base / "3").mkdir()
    (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
    assert loader.poll() == []
    assert loader.servable(MODEL_NAME).version == 2
    assert loader.servable("other") is None


def test_stop_closes_the_port_and_the_poll_thread(tmp_path, staged_versions):
    base = tmp_path / MODEL_NAME
    shutil.copytree(staged_versions[1], base / "1")
    server = PredictionServer(str(base), MODEL_NAME, port=0, poll_seconds=POLL_SECONDS)
    server.start()
    poll_thread = server.loader._thread
    port = server.port

    server.stop()

    assert not poll_thread.is_alive()
    assert server.loader.versions() == []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert rpc_error(lambda: stub.Predict(good_request(), timeout=5)).code() == grpc.StatusCode.UNAVAILABLE


def test_start_rejects_a_missing_base_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="--model_base_path"):
        PredictionServer(str(tmp_path / "nowhere"), MODEL_NAME, port=0).start()


def read_line(stream, timeout=120):
    """The next line of a child's output, or a failure after `timeout` seconds (never a hang)."""
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no output line from the server within {timeout} s")


def test_command_line_server_serves_and_stops_on_sigterm(tmp_path, staged_versions):
    base = tmp_path / MODEL_NAME
    shutil.copytree(staged_versions[1], base / "1")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.server", "--model_base_path", str(base), "--port", "0", "--rest_api_port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    try:
        line = read_line(process.stdout)
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert len(pngs_of(stub.Predict(good_request(), timeout=10))) == 1
        rest_line = read_line(process.stdout)
        assert rest_line.startswith("REST API and design page on http://127.0.0.1:"), rest_line
        with urllib.request.urlopen(f"{rest_line.split(' on ', 1)[1].strip()}v1/models/{MODEL_NAME}", timeout=10) as reply:
            assert json.load(reply)["model_version_status"][0]["state"] == "AVAILABLE"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


FAKE_BINARY = """#!/usr/bin/env bash
printf '%s\\n' "$@"
for arg in "$@"; do
  case "$arg" in --model_config_file=*) cat "${arg#*=}" ;; esac
done
"""


def run_script(script, tmp_path, fake, **env):
    """Runs a serving/ script with `fake` (docker or tensorflow_model_server) faked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / fake).write_text(FAKE_BINARY)
    (bin_dir / fake).chmod(0o755)
    environment = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", TMPDIR=str(tmp_path), **env)
    return subprocess.run(
        ["bash", os.path.join(REPO_ROOT, "serving", script)],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment,
    )


def test_models_config_parses_as_a_model_server_config():
    with open(os.path.join(REPO_ROOT, "serving", "models.config")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())

    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (MODEL_NAME, "/models/fashion_t2i", "tensorflow")
    assert model.model_version_policy.latest.num_versions == 1


def test_run_tf_serving_passes_the_flags_and_the_base_path(tmp_path):
    base = tmp_path / MODEL_NAME
    base.mkdir()

    result = run_script("run_tf_serving.sh", tmp_path, "tensorflow_model_server", MODEL_BASE_PATH=str(base))

    assert result.returncode == 0, result.stderr
    for flag in ["--port=8500", "--rest_api_port=8501", "--enable_batching=true", "--file_system_poll_wait_seconds=2"]:
        assert flag in result.stdout.splitlines()
    assert "batching_parameters.txt" in result.stdout
    assert f'base_path: "{base}"' in result.stdout


def test_run_docker_mounts_the_export(tmp_path):
    base = tmp_path / MODEL_NAME
    base.mkdir()

    result = run_script("run_docker.sh", tmp_path, "docker", MODEL_BASE_PATH=str(base))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"type=bind,source={base},target=/models/fashion_t2i,readonly" in lines
    assert "127.0.0.1:8500:8500" in lines and "--model_config_file=/config/models.config" in lines


def test_run_docker_needs_the_model_base_path(tmp_path):
    result = run_script("run_docker.sh", tmp_path, "docker")

    assert result.returncode != 0 and "set MODEL_BASE_PATH" in result.stderr


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is not None, reason="a real TF Serving is installed")
def test_run_tf_serving_explains_a_missing_binary(tmp_path):
    result = run_script("run_tf_serving.sh", tmp_path, "docker")

    assert result.returncode == 1 and "tensorflow_model_server is not on PATH" in result.stderr
