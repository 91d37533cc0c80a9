"""gRPC client for the fashion_t2i generator behind TF Serving (or serving.server).

Usage:
    python -m serving.client --server localhost:8500 --model_name fashion_t2i \
        --text "a navy blue ankle boot" --text "a red pullover" --out generated/

Writes `generated/0.png`, `generated/1.png`, ... and prints their paths,
each followed by the words of its text that the model does not know
(`unknown words in text 0: crimson, zzqxv`), if any.
"""

import os
import sys

import grpc
import tensorflow as tf
from absl import app
from absl import flags
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

MEGABYTE = 1024 * 1024
SEEDED_SIGNATURES = ("generate", "attention")
SIGNATURES = ("serving_default",) + SEEDED_SIGNATURES
# The exported PNG output; "_bytes" makes TF Serving's REST API send it as base64.
PNG_OUTPUT = "png_bytes"
# Every signature's word outputs: the vocabulary's word per position and the
# word as typed; an unknown word is the typed word where the token is this.
TOKENS_OUTPUT = "tokens"
WORDS_OUTPUT = "words"
UNKNOWN_TOKEN = b"[UNK]"


class FashionT2IClient:
    """Calls the exported generator's signatures over TF Serving's gRPC API.

    Args:
        server: "host:port" of TF Serving's gRPC port.
        model_name: the served model's name.
        timeout: seconds each call may take.
        max_message_mb: gRPC send and receive limit in MB; must cover the
            returned images (uint8 [B, H, W, 3] plus PNGs).
        version: a model version to pin, or None for the newest.

    Raises:
        ValueError: `server` is not "host:port".

    Example:
        >>> client = FashionT2IClient("localhost:8500")
        >>> png_bytes = client.generate(["a navy blue ankle boot"], seeds=[7])
    """

    def __init__(self, server, model_name="fashion_t2i", timeout=30.0, max_message_mb=64, version=None):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"server must be host:port, e.g. localhost:8500; got {server!r}.")
        self.server = server
        self.model_name = model_name
        self.timeout = timeout
        self.max_message_mb = max_message_mb
        self.version = version
        message_bytes = max_message_mb * MEGABYTE
        self._channel = grpc.insecure_channel(
            server,
            options=[
                ("grpc.max_send_message_length", message_bytes),
                ("grpc.max_receive_message_length", message_bytes),
            ],
        )
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, texts, seeds=None, signature_name=None, output_filter=None):
        """Runs one signature and returns its outputs.

        Args:
            texts: descriptions (str or bytes).
            seeds: one int per text, or None. With seeds the default
                signature is "generate", without it "serving_default".
            signature_name: "serving_default", "generate" or "attention";
                None picks by `seeds`.
            output_filter: output names to return, or None for all.

        Returns:
            dict output name -> numpy array: "images", "png_bytes", "tokens"
            and "words" (bytes [B, T]; see `unknown_words`), and for
            "attention" also "attention".

        Raises:
            ValueError: `seeds` does not match `texts` or the signature.
            grpc.RpcError: the server answered with an error status (its
                `code()` and `details()` say which).
        """
        signature_name = signature_name or ("generate" if seeds is not None else "serving_default")
        seeded = signature_name in SEEDED_SIGNATURES
        if seeded and seeds is None:
            raise ValueError(f"Signature {signature_name!r} needs one seed per text; pass seeds=[...].")
        if not seeded and seeds is not None:
            raise ValueError(f"Signature {signature_name!r} takes no seeds; use 'generate' for seeded output.")
        if seeds is not None and len(seeds) != len(texts):
            raise ValueError(f"Got {len(texts)} texts but {len(seeds)} seeds; pass one seed per text.")
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        encoded = [text.encode("utf-8") if isinstance(text, str) else text for text in texts]
        request.inputs["texts"].CopyFrom(tf.make_tensor_proto(encoded, dtype=tf.string))
        if seeds is not None:
            request.inputs["seeds"].CopyFrom(tf.make_tensor_proto(list(seeds), dtype=tf.int64))
        request.output_filter.extend(output_filter or [])
        response = self._stub.Predict(request, timeout=self.timeout)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def generate(self, texts, seeds=None, signature_name=None):
        """Generates one PNG per text.

        Args:
            texts: descriptions.
            seeds: one int per text for reproducible images, or None.
            signature_name: see `predict`.

        Returns:
            list of PNG-encoded bytes, in the order of `texts`.

        Raises:
            ValueError, grpc.RpcError: see `predict`.
        """
        outputs = self.predict(texts, seeds=seeds, signature_name=signature_name, output_filter=[PNG_OUTPUT])
        return [bytes(png) for png in outputs[PNG_OUTPUT]]

    def metadata(self):
        """Returns the served version and its signatures.

        Returns:
            (version, dict signature name -> `SignatureDef` proto).

        Raises:
            grpc.RpcError: the server answered with an error status.
        """
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self.model_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        request.metadata_field.append("signature_def")
        response = self._stub.GetModelMetadata(request, timeout=self.timeout)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_def_map)
        return response.model_spec.version.value, dict(signature_def_map.signature_def)

    def close(self):
        """Closes the gRPC channel."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def unknown_words(outputs):
    """The words of each text that the model does not know.

    Args:
        outputs: a `predict` result holding "tokens" and "words".

    Returns:
        One list of str per text: its typed words whose token is "[UNK]",
        in order.
    """
    return [
        [word.decode("utf-8") for word, token in zip(words, tokens) if token == UNKNOWN_TOKEN]
        for words, tokens in zip(outputs[WORDS_OUTPUT], outputs[TOKENS_OUTPUT])
    ]


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m serving.client` in `absl.flags.FLAGS`.

    Called only when this module runs as the program, so that importing the
    client never adds flags that could collide with another tool's.
    """
    flags.DEFINE_string("server", "localhost:8500", "TF Serving gRPC address, host:port.")
    flags.DEFINE_string("model_name", "fashion_t2i", "Served model name.")
    flags.DEFINE_multi_string("text", None, "A description; repeat for a batch.")
    flags.DEFINE_integer("seed", None, "Seed of the first text (text i uses seed+i); implies 'generate'.")
    flags.DEFINE_enum("signature", None, SIGNATURES, "Signature to call (default by --seed).")
    flags.DEFINE_string("out", None, "Directory for <i>.png; created if missing.")
    flags.DEFINE_float("timeout", 30.0, "Seconds the call may take.", lower_bound=0.0)
    flags.DEFINE_integer("max_message_mb", 64, "gRPC message size limit in MB.", lower_bound=1)
    flags.mark_flags_as_required(["text", "out"])


def main(argv):
    """Generates images for --text descriptions and writes them as PNGs.

    Prints each PNG's path and, on the next line, the unknown words of its
    text if it has any.

    Returns:
        The process exit code: 0 on success, 1 on a connection or server
        error (printed to stderr with the gRPC status code).

    Raises:
        app.UsageError: positional arguments, or --seed with
            --signature serving_default.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.signature == "serving_default" and FLAGS.seed is not None:
        raise app.UsageError("--signature serving_default takes no --seed; use --signature generate.")
    seeds = None
    if FLAGS.seed is not None or FLAGS.signature in SEEDED_SIGNATURES:
        first = 0 if FLAGS.seed is None else FLAGS.seed
        seeds = [first + i for i in range(len(FLAGS.text))]
    try:
        with FashionT2IClient(
            FLAGS.server, FLAGS.model_name, timeout=FLAGS.timeout, max_message_mb=FLAGS.max_message_mb
        ) as client:
            outputs = client.predict(
                FLAGS.text, seeds=seeds, signature_name=FLAGS.signature,
                output_filter=[PNG_OUTPUT, TOKENS_OUTPUT, WORDS_OUTPUT],
            )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(describe_rpc_error(error, FLAGS.server, FLAGS.timeout), file=sys.stderr)
        return 1
    os.makedirs(FLAGS.out, exist_ok=True)
    for index, (png, unknown) in enumerate(zip(outputs[PNG_OUTPUT], unknown_words(outputs))):
        path = os.path.join(FLAGS.out, f"{index}.png")
        with open(path, "wb") as f:
            f.write(bytes(png))
        print(path)
        if unknown:
            print(f"unknown words in text {index}: {', '.join(unknown)}")
    return 0


def describe_rpc_error(error, server, timeout):
    """A message for a failed call: the gRPC status, and what to try for the common ones.

    Args:
        error: the `grpc.RpcError` of the call.
        server: the "host:port" that was called.
        timeout: the seconds the call was given.
    """
    code = error.code()
    message = f"error: {code.name}: {error.details()}"
    if code == grpc.StatusCode.UNAVAILABLE:
        message += (
            f"\nCould not reach a model server at {server}; check that TF Serving "
            "(serving/run_tf_serving.sh) or `python -m serving.server` is running there."
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message += f"\nNo answer within {timeout}s; raise --timeout or send fewer texts."
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        message += "\nThe response is larger than the message limit; raise --max_message_mb or send fewer texts."
    return message


if __name__ == "__main__":
    define_flags()
    app.run(main)
