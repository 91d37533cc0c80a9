"""Writes the text-to-image graph of a trained workdir as a versioned SavedModel."""

import os

import keras
import tensorflow as tf

from fashion_t2i import files
from fashion_t2i.config.config import CONFIG_FILENAME

TEXTS = tf.TensorSpec([None], tf.string, name="texts")
SEEDS = tf.TensorSpec([None], tf.int64, name="seeds")
# TF Serving's REST API base64-encodes a string output only when its name ends
# in "_bytes"; any other string output is written as JSON text, which PNG bytes
# are not.
PNG_OUTPUT = "png_bytes"


def next_version(model_dir):
    """1 + the largest integer version directory under `model_dir` (1 if none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(name) for name in os.listdir(model_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(model, base_dir, model_name, version=None, verbose=False):
    """Exports a `TextToImage` to `<base_dir>/<model_name>/<version>/`.

    Signatures (TF Serving names):
    - `serving_default(texts)` -> `images` uint8 [B, H, W, 3], `png_bytes`
      [B] (PNG-encoded; the `_bytes` suffix makes TF Serving's REST API
      return them as `{"b64": ...}`), `tokens` string [B, T] (the
      vocabulary's word per position, "[UNK]" for an unknown word) and
      `words` string [B, T] (the normalised words as typed; both "" at
      padding, T = `max_words`; REST returns both as JSON text); a new
      random seed per text.
    - `generate(texts, seeds)` -> the same, deterministic per seed.
    - `attention(texts, seeds)` -> also `attention` float32 [B, T, h, w].

    A client shows the unknown words as `words` where `tokens` is "[UNK]".

    The SavedModel is written to a hidden temporary directory and renamed
    into place, so a server polling `<base_dir>/<model_name>` never loads a
    half-written version. The vocabulary is an asset; the run's config is
    copied to `assets.extra/config.json`.

    Args:
        model: a `fashion_t2i.text_to_image.TextToImage` (with `config`).
        base_dir: serving base directory.
        model_name: directory of the model under `base_dir`.
        version: integer version; default the next free one.

    Returns:
        The path of the version directory.

    Raises:
        FileExistsError: the version already exists.
    """
    model_dir = os.path.join(base_dir, model_name)
    version = int(version or next_version(model_dir))
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; pass another --version or leave it unset.")

    def serve(texts):
        return _signature_outputs(model.generate(texts, model.random_seeds(texts)))

    def generate(texts, seeds):
        return _signature_outputs(model.generate(texts, seeds))

    def attention(texts, seeds):
        outputs = model.generate(texts, seeds)
        return dict(_signature_outputs(outputs), attention=outputs["attention"])

    archive = keras.export.ExportArchive()
    # Only the lookup table is tracked: the endpoints capture every network
    # variable themselves, and tracking the networks too would store each
    # weight twice (keras-team/keras#23553: twice the size on disk and in a
    # server's memory).
    archive.track(model.tokenizer.table)
    archive.add_endpoint("serving_default", serve, input_signature=[TEXTS])
    archive.add_endpoint("generate", generate, input_signature=[TEXTS, SEEDS])
    archive.add_endpoint("attention", attention, input_signature=[TEXTS, SEEDS])
    # TF Serving loads only numbered directories: the hidden temporary one is
    # invisible to it until the rename.
    with files.atomic_path(final) as tmp:
        archive.write_out(tmp, verbose=verbose)
        model.config.save(os.path.join(tmp, "assets.extra"))
    assert os.path.exists(os.path.join(final, "assets.extra", CONFIG_FILENAME))
    return final


def _signature_outputs(outputs):
    """The outputs of every signature, under their served names: images and words."""
    return {
        "images": outputs["images"],
        PNG_OUTPUT: outputs["png"],
        "tokens": outputs["tokens"],
        "words": outputs["words"],
    }
