"""Tests of the REST API (TF Serving's /v1/models), GetModelStatus and the metrics page.

Every call goes over loopback: HTTP with urllib, gRPC with the real stubs.
"""

import base64
import json
import shutil
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import serving_fixtures
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc
from test_serving_server import BAD_PREDICTS

from serving.server import PredictionServer

MODEL_NAME = "fashion_t2i"
MAX_BATCH = 4
PREDICT = f"/v1/models/{MODEL_NAME}:predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / MODEL_NAME
    serving_fixtures.build_stand_in_model(str(base / "1"))
    server = PredictionServer(str(base), MODEL_NAME, port=0, rest_api_port=0, poll_seconds=0, max_batch=MAX_BATCH)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


def call(server, path, body=None, method=None):
    """Returns (HTTP status, parsed JSON body or text) of one request."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_api_port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            status, payload, content_type = reply.status, reply.read(), reply.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, payload, content_type = error.code, error.read(), error.headers["Content-Type"]
    if content_type.startswith("application/json"):
        return status, json.loads(payload)
    return status, payload.decode()


def decode_png(value):
    return tf.io.decode_png(base64.b64decode(value["b64"])).numpy()


def test_model_status_lists_the_available_version(server):
    for path in [f"/v1/models/{MODEL_NAME}", f"/v1/models/{MODEL_NAME}/versions/1"]:
        status, body = call(server, path)

        assert status == 200
        assert body == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }


def test_metadata_lists_the_signatures_and_the_bytes_output(server):
    status, body = call(server, f"/v1/models/{MODEL_NAME}/metadata")

    assert status == 200
    assert body["model_spec"]["name"] == MODEL_NAME and body["model_spec"]["version"] == "1"
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(serving_fixtures.SIGNATURES) <= set(signatures)
    assert set(signatures["generate"]["outputs"]) == {"images", "png_bytes", "tokens", "words"}
    assert signatures["generate"]["inputs"]["seeds"]["dtype"] == "DT_INT64"


def test_row_format_returns_base64_pngs_matching_the_images(server):
    status, body = call(server, PREDICT, {"instances": ["a red pullover", {"b64": base64.b64encode(b"a coat").decode()}]})

    assert status == 200
    (first, second) = body["predictions"]
    assert set(first) == {"images", "png_bytes", "tokens", "words"}
    np.testing.assert_array_equal(decode_png(first["png_bytes"]), np.array(first["images"], np.uint8))
    assert not np.array_equal(first["images"], second["images"])
    status, plain = call(server, PREDICT, {"instances": ["a coat"]})
    assert plain["predictions"][0]["images"] == second["images"]


def test_columnar_format_matches_grpc_for_the_same_seed(server, channel):
    status, body = call(
        server, PREDICT, {"signature_name": "generate", "inputs": {"texts": ["a red dress", "a red dress"], "seeds": [7, 8]}}
    )
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    from test_serving_server import make_request, pngs_of, seeds, texts

    grpc_pngs = pngs_of(stub.Predict(make_request("generate", texts=texts(b"a red dress"), seeds=seeds(7)), timeout=10))

    assert status == 200
    outputs = body["outputs"]
    assert base64.b64decode(outputs["png_bytes"][0]["b64"]) == grpc_pngs[0]
    assert outputs["png_bytes"][0] != outputs["png_bytes"][1]


def test_attention_returns_words_as_text(server):
    status, body = call(
        server, PREDICT, {"signature_name": "attention", "instances": [{"texts": "a red dress", "seeds": 1}]}
    )

    assert status == 200
    (prediction,) = body["predictions"]
    assert prediction["tokens"] == ["a", "red", "dress", ""]
    assert np.array(prediction["attention"]).shape == (serving_fixtures.MAX_WORDS, 4, 4)


def predict_both_formats(server, signature_name, text, seed=1):
    """The predictions of `text` in the row and in the columnar format: (row, columnar)."""
    instance, inputs = text, {"texts": [text]}
    if signature_name != "serving_default":
        instance, inputs = {"texts": text, "seeds": seed}, dict(inputs, seeds=[seed])
    row_status, row = call(server, PREDICT, {"signature_name": signature_name, "instances": [instance]})
    columnar_status, columnar = call(server, PREDICT, {"signature_name": signature_name, "inputs": inputs})
    assert row_status == columnar_status == 200, (row, columnar)
    return row["predictions"][0], columnar["outputs"]


@pytest.mark.parametrize("signature_name", serving_fixtures.SIGNATURES)
def test_every_signature_returns_tokens_and_words_as_text(server, signature_name):
    row, columnar = predict_both_formats(server, signature_name, serving_fixtures.UNKNOWN_TEXT)

    assert row["words"] == serving_fixtures.UNKNOWN_TEXT_WORDS
    assert row["tokens"] == serving_fixtures.UNKNOWN_TEXT_TOKENS
    assert columnar["words"] == [serving_fixtures.UNKNOWN_TEXT_WORDS]
    assert columnar["tokens"] == [serving_fixtures.UNKNOWN_TEXT_TOKENS]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """gRPC and REST over the real exported graph of an untrained tiny model."""
    base = tmp_path_factory.mktemp("real_export")
    serving_fixtures.build_real_export(str(base), MODEL_NAME)
    with PredictionServer(str(base / MODEL_NAME), MODEL_NAME, port=0, rest_api_port=0, poll_seconds=0) as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("signature_name", serving_fixtures.SIGNATURES)
def test_the_real_export_names_unknown_words_over_rest_and_grpc(real_server, signature_name):
    from test_serving_server import make_request, seeds, texts

    text = "A Crimson ZZQXV dress!"
    padding = [""] * 4  # max_words of the smoke preset: 8
    words = serving_fixtures.UNKNOWN_TEXT_WORDS + padding
    tokens = serving_fixtures.UNKNOWN_TEXT_TOKENS + padding
    row, columnar = predict_both_formats(real_server, signature_name, text)
    with grpc.insecure_channel(f"127.0.0.1:{real_server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = make_request(signature_name, texts=texts(text.encode()))
        if signature_name != "serving_default":
            request.inputs["seeds"].CopyFrom(seeds(1))
        response = stub.Predict(request, timeout=60)

    assert (row["words"], row["tokens"]) == (words, tokens)
    assert (columnar["words"], columnar["tokens"]) == ([words], [tokens])
    assert tf.make_ndarray(response.outputs["words"]).tolist() == [[w.encode() for w in words]]
    assert tf.make_ndarray(response.outputs["tokens"]).tolist() == [[t.encode() for t in tokens]]


# Every request of the gRPC bad-request suite, as TF Serving's REST API takes it:
# (method, path, body, HTTP status, fragment of the error).
BAD_REST = {
    "wrong input name": ("POST", PREDICT, {"inputs": {"text": ["a"]}}, 400, "Missing named input: texts"),
    "float texts": ("POST", PREDICT, {"instances": [1.0]}, 400, "is not of expected type: string"),
    "int32 seeds": (
        "POST",
        PREDICT,
        {"signature_name": "generate", "instances": [{"texts": "a", "seeds": 1.5}]},
        400,
        "is not of expected type: int64",
    ),
    "extra input": ("POST", PREDICT, {"instances": [{"texts": "a", "seeds": 1}]}, 400, "does not have named input: seeds"),
    "missing input": (
        "POST",
        PREDICT,
        {"signature_name": "generate", "inputs": {"texts": ["a"]}},
        400,
        "Missing but required: {seeds}",
    ),
    "empty batch": ("POST", PREDICT, {"inputs": {"texts": []}}, 400, "empty batch"),
    "over max batch": (
        "POST",
        PREDICT,
        {"instances": ["a"] * (MAX_BATCH + 1)},
        400,
        f"larger than maximum input batch size {MAX_BATCH}",
    ),
    "rank 2 texts": ("POST", PREDICT, {"inputs": [["a"]]}, 400, "must have shape [-1]"),
    "scalar text": ("POST", PREDICT, {"inputs": "a"}, 400, "must have shape [-1]"),
    "mismatched batches": (
        "POST",
        PREDICT,
        {"signature_name": "generate", "inputs": {"texts": ["a", "b"], "seeds": [1, 2, 3]}},
        400,
        "equal 0th-dimension size",
    ),
    "unknown signature": ("POST", PREDICT, {"signature_name": "sample", "instances": ["a"]}, 400, '"sample" not found'),
    "unknown model": ("POST", "/v1/models/other:predict", {"instances": ["a"]}, 404, "Latest(other)"),
    "model name escaping the base path": (
        "POST",
        "/v1/models/..%2Ffashion_t2i:predict",
        {"instances": ["a"]},
        400,
        "Malformed request",
    ),
    "missing version": (
        "POST",
        f"/v1/models/{MODEL_NAME}/versions/7:predict",
        {"instances": ["a"]},
        404,
        "Specific(fashion_t2i, 7)",
    ),
    "no model name": ("POST", "/v1/models/:predict", {"instances": ["a"]}, 400, "Malformed request"),
    "missing model spec": ("POST", "/v1/models:predict", {"instances": ["a"]}, 400, "Malformed request"),
    "empty description": ("POST", PREDICT, {"instances": ["a coat", ""]}, 400, "Description 2 of 2 has no words"),
    "wordless description": ("POST", PREDICT, {"instances": [" ... !? "]}, 400, "Description 1 of 1 has no words"),
    # REST only.
    "version label": ("POST", f"/v1/models/{MODEL_NAME}/labels/stable:predict", {"instances": ["a"]}, 400, "version_label"),
    "not JSON": ("POST", PREDICT, b"{instances: [", 400, "JSON Parse error"),
    "empty body": ("POST", PREDICT, b"", 400, "The document is empty"),
    "JSON list body": ("POST", PREDICT, [1], 400, "Is not object"),
    "neither inputs nor instances": ("POST", PREDICT, {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    "both inputs and instances": ("POST", PREDICT, {"inputs": ["a"], "instances": ["a"]}, 400, "only one of"),
    "no instances": ("POST", PREDICT, {"instances": []}, 400, "No values in 'instances'"),
    "bad base64": ("POST", PREDICT, {"instances": [{"b64": "not base64!"}]}, 400, "Unable to base64 decode"),
    "ragged inputs": ("POST", PREDICT, {"inputs": [["a", "b"], ["c"]]}, 400, "unexpected size"),
    "signature name not a string": ("POST", PREDICT, {"signature_name": 3, "instances": ["a"]}, 400, "must be a string"),
    "predict with GET": ("GET", PREDICT, None, 400, "Malformed request: GET"),
    "classify": ("POST", f"/v1/models/{MODEL_NAME}:classify", {"examples": []}, 501, "Classify is not supported"),
    "status of an unknown model": ("GET", "/v1/models/other", None, 404, "Could not find any versions of model other"),
    "status of a missing version": ("GET", f"/v1/models/{MODEL_NAME}/versions/7", None, 404, "Could not find version 7"),
    "metadata of an unknown model": ("GET", "/v1/models/other/metadata", None, 404, "Servable not found"),
    "no model in the status path": ("GET", "/v1/models", None, 400, "Missing model name"),
}
# gRPC cases without a REST form: TF Serving's REST API has no output filter,
# and its URL always carries a model spec.
NO_REST_FORM = {"unknown output", "duplicate output"}


def test_rest_suite_covers_every_grpc_bad_request():
    assert set(BAD_PREDICTS) - NO_REST_FORM <= set(BAD_REST)


@pytest.mark.parametrize("case", sorted(BAD_REST))
def test_bad_rest_request_is_rejected_and_server_keeps_serving(server, case):
    method, path, body, expected_status, fragment = BAD_REST[case]

    status, answer = call(server, path, body, method=method)

    assert status == expected_status, answer
    assert set(answer) == {"error"} and fragment in answer["error"], answer
    assert call(server, PREDICT, {"instances": ["a coat"]})[0] == 200


def test_grpc_model_status_answers_like_tf_serving(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)

    def status_request(name=MODEL_NAME, version=None):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        return request

    (version_status,) = stub.GetModelStatus(status_request(), timeout=10).model_version_status
    assert version_status.version == 1
    assert version_status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert stub.GetModelStatus(status_request(version=1), timeout=10).model_version_status[0].version == 1
    for request, code, fragment in [
        (status_request("other"), grpc.StatusCode.NOT_FOUND, "Could not find any versions of model other"),
        (status_request(version=7), grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model fashion_t2i"),
        (get_model_status_pb2.GetModelStatusRequest(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            stub.GetModelStatus(request, timeout=10)
        assert info.value.code() == code and fragment in info.value.details()


def metric_samples(server):
    status, text = call(server, "/monitoring/prometheus/metrics")
    assert status == 200
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def count_of(samples, **labels):
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_requests_by_model_api_entrypoint_and_status(server, channel):
    before = metric_samples(server)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    from test_serving_server import good_request

    call(server, PREDICT, {"instances": ["a coat"]})
    call(server, PREDICT, {"instances": [""]})
    call(server, "/v1/models/other")
    stub.Predict(good_request(), timeout=10)
    after = metric_samples(server)

    counts = ":tensorflow:serving:request_count"
    for labels, added in [
        ({"model_name": MODEL_NAME, "API": "Predict", "entrypoint": "REST", "status": "OK"}, 1),
        ({"model_name": MODEL_NAME, "API": "Predict", "entrypoint": "REST", "status": "INVALID_ARGUMENT"}, 1),
        ({"model_name": "other", "API": "GetModelStatus", "entrypoint": "REST", "status": "NOT_FOUND"}, 1),
        ({"model_name": MODEL_NAME, "API": "Predict", "entrypoint": "GRPC", "status": "OK"}, 1),
    ]:
        assert count_of(after[counts], **labels) - count_of(before.get(counts, []), **labels) == added, labels
    latency = after[":tensorflow:serving:request_latency"]
    rest_predict = {"model_name": MODEL_NAME, "API": "Predict", "entrypoint": "REST"}
    assert count_of([s for s in latency if s.name.endswith("_count")], **rest_predict) >= 2
    buckets = [s for s in latency if s.name.endswith("_bucket") and s.labels["API"] == "Predict"]
    assert {s.labels["le"] for s in buckets} >= {"10.0", "+Inf"}


@pytest.mark.parametrize(
    "path, fragment",
    [("/", '<script src="app.js">'), ("/app.js", "v1/models/"), ("/style.css", "@media")],
)
def test_design_page_files_are_served(server, path, fragment):
    status, text = call(server, path)

    assert status == 200 and fragment in text


def test_unknown_paths_are_not_found(server):
    for path in ["/nope.html", "/static/../server.py", "/v1"]:
        status, body = call(server, path)
        assert status in (400, 404) and "error" in body, (path, body)


def test_rest_port_can_be_left_off(tmp_path):
    serving_fixtures.build_stand_in_model(str(tmp_path / MODEL_NAME / "1"))
    with PredictionServer(str(tmp_path / MODEL_NAME), MODEL_NAME, port=0, poll_seconds=0) as server:
        assert server.rest_api_port is None
    shutil.rmtree(tmp_path / MODEL_NAME)
