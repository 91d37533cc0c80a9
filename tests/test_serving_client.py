"""Tests of serving.client against serving.server on a stand-in model (loopback only)."""

import os
import socket
import subprocess
import sys

import grpc
import numpy as np
import pytest
import serving_fixtures
import tensorflow as tf

from serving.client import FashionT2IClient
from serving.client import unknown_words
from serving.server import PredictionServer

MODEL_NAME = "fashion_t2i"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / MODEL_NAME
    serving_fixtures.build_stand_in_model(str(base / "1"))
    server = PredictionServer(str(base), MODEL_NAME, port=0, poll_seconds=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with FashionT2IClient(f"127.0.0.1:{server.port}", MODEL_NAME, timeout=10) as client:
        yield client


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "serving.client", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def test_generate_returns_one_decodable_png_per_text(client):
    pngs = client.generate(["a red pullover", "a navy blue ankle boot"])

    images = [tf.io.decode_png(png).numpy() for png in pngs]
    assert [image.shape for image in images] == [(8, 8, 3)] * 2
    assert not np.array_equal(images[0], images[1])


def test_seeded_generate_is_reproducible(client):
    first = client.generate(["a red dress"], seeds=[3])

    assert client.generate(["a red dress"], seeds=[3]) == first
    assert client.generate(["a red dress"], seeds=[4]) != first


def test_attention_returns_tokens(client):
    outputs = client.predict(["a red dress"], seeds=[1], signature_name="attention")

    assert outputs["tokens"].tolist() == [[b"a", b"red", b"dress", b""]]
    assert outputs["attention"].shape == (1, serving_fixtures.MAX_WORDS, 4, 4)


def test_metadata_lists_the_signatures(client):
    version, signatures = client.metadata()

    assert version == 1
    assert set(serving_fixtures.SIGNATURES) <= set(signatures)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seeds": [1, 2]}, "one seed per text"),
        ({"seeds": [1], "signature_name": "serving_default"}, "takes no seeds"),
        ({"signature_name": "attention"}, "needs one seed"),
    ],
)
def test_bad_seeds_are_rejected_before_sending(client, kwargs, message):
    with pytest.raises(ValueError, match=message):
        client.generate(["a coat"], **kwargs)


def test_server_errors_carry_the_grpc_status(server):
    with FashionT2IClient(f"127.0.0.1:{server.port}", "other_model", timeout=10) as client:
        with pytest.raises(grpc.RpcError) as info:
            client.generate(["a coat"])

    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_server_address_is_rejected():
    with pytest.raises(ValueError, match="host:port"):
        FashionT2IClient("localhost")


def test_command_line_writes_pngs(server, tmp_path):
    out = tmp_path / "generated"

    result = run_cli(
        "--server", f"127.0.0.1:{server.port}", "--text", "a red pullover", "--text", "a blue coat",
        "--seed", "5", "--out", str(out),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert paths == [str(out / "0.png"), str(out / "1.png")]
    for path in paths:
        assert tf.io.decode_png(tf.io.read_file(path)).shape == (8, 8, 3)


def test_unknown_words_are_the_typed_words_read_as_unk(client):
    texts = [serving_fixtures.UNKNOWN_TEXT, "a red dress"]
    for kwargs in [{}, {"seeds": [1, 2]}, {"seeds": [1, 2], "signature_name": "attention"}]:
        outputs = client.predict(texts, **kwargs)

        assert unknown_words(outputs) == [["crimson", "zzqxv"], []]


def test_command_line_prints_the_unknown_words_of_each_text(server, tmp_path):
    out = tmp_path / "generated"

    result = run_cli(
        "--server", f"127.0.0.1:{server.port}", "--text", "a red pullover", "--text", "a crimson zzqxv coat",
        "--out", str(out),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(out / "0.png"),
        str(out / "1.png"),
        "unknown words in text 1: crimson, zzqxv",
    ]


def test_command_line_reports_a_closed_port(tmp_path):
    result = run_cli("--server", f"127.0.0.1:{closed_port()}", "--text", "a coat", "--out", str(tmp_path))

    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert "Could not reach a model server" in result.stderr
    assert not list(tmp_path.iterdir())
