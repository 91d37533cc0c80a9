"""A tiny stand-in for the exported generator, with the real serving contract.

The export code writes `<base>/<model_name>/<version>/` holding a SavedModel
with three signatures (DESIGN.md section 3). Serving tests need such a model
in a second, not a trained GAN: `StandInGenerator` computes a deterministic
8x8 RGB image from a hash of each text (and its seed), with the same input
and output names, dtypes and ranks as the real export. `build_real_export`
writes the real graph (tokenizer included) of an untrained tiny model, for
the tests that must see what the tokenizer does with a text.
"""

import json
import os

import tensorflow as tf

from export import export_lib
from fashion_t2i.config import get_preset
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text_to_image import TextToImage

IMAGE_SIZE = 8
ATTENTION_SIZE = 4
MAX_WORDS = 4
SIGNATURES = ("serving_default", "generate", "attention")
# The words the stand-in does not know: its `tokens` say "[UNK]" for them.
# Neither is in the real export's vocabulary (REAL_CAPTIONS) either.
UNKNOWN_WORDS = ("zzqxv", "crimson")
# A text with two unknown words, and its words and tokens (before padding).
UNKNOWN_TEXT = "a crimson zzqxv dress"
UNKNOWN_TEXT_WORDS = ["a", "crimson", "zzqxv", "dress"]
UNKNOWN_TEXT_TOKENS = ["a", "[UNK]", "[UNK]", "dress"]


class StandInGenerator(tf.Module):
    """Deterministic text -> image function with the exported signatures.

    Args:
        salt: mixed into every pixel, so two versions built with different
            salts answer differently.
    """

    def __init__(self, salt=0, name="stand_in_generator"):
        super().__init__(name=name)
        self.salt = int(salt)

    def _outputs(self, texts, seeds):
        """Images from the text's hash; `words` split on spaces, `tokens` with "[UNK]"."""
        codes = tf.strings.to_hash_bucket_fast(texts, 2**31 - 1)
        codes = codes + seeds * 7919 + self.salt
        pixels = tf.range(IMAGE_SIZE * IMAGE_SIZE * 3, dtype=tf.int64)
        flat = tf.math.floormod(codes[:, None] * 31 + pixels[None, :] * 17, 256)
        images = tf.cast(tf.reshape(flat, [-1, IMAGE_SIZE, IMAGE_SIZE, 3]), tf.uint8)
        png = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)
        words = tf.strings.split(texts).to_tensor(default_value="", shape=[None, MAX_WORDS])
        unknown = tf.reduce_any(tf.equal(words[:, :, None], tf.constant(UNKNOWN_WORDS)), axis=-1)
        tokens = tf.where(unknown, "[UNK]", words)
        return {"images": images, "png_bytes": png, "tokens": tokens, "words": words}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serving_default(self, texts):
        return self._outputs(texts, tf.zeros_like(texts, dtype=tf.int64))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="texts"),
            tf.TensorSpec([None], tf.int64, name="seeds"),
        ]
    )
    def generate(self, texts, seeds):
        return self._outputs(texts, seeds)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="texts"),
            tf.TensorSpec([None], tf.int64, name="seeds"),
        ]
    )
    def attention(self, texts, seeds):
        outputs = self._outputs(texts, seeds)
        codes = tf.strings.to_hash_bucket_fast(outputs["tokens"], 255)
        codes = tf.cast(tf.math.floormod(codes, 255), tf.float32)
        outputs["attention"] = tf.tile(
            codes[:, :, None, None] / 255.0, [1, 1, ATTENTION_SIZE, ATTENTION_SIZE]
        )
        return outputs


def build_stand_in_model(version_dir, salt=0):
    """Saves a `StandInGenerator` SavedModel the way the exporter lays it out.

    Also writes `assets.extra/config.json`, which servers must ignore.

    Args:
        version_dir: `<base>/<model_name>/<version>`; created.
        salt: see `StandInGenerator`.

    Returns:
        `version_dir`.
    """
    module = StandInGenerator(salt=salt)
    tf.saved_model.save(
        module,
        version_dir,
        signatures={name: getattr(module, name) for name in SIGNATURES},
    )
    extra = os.path.join(version_dir, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, "config.json"), "w") as f:
        json.dump({"stand_in": True, "salt": salt}, f)
    return version_dir


REAL_CAPTIONS = ("a red striped dress", "a navy blue plain ankle boot", "a green checked coat")


def build_real_export(base_dir, model_name):
    """Exports an untrained `TextToImage` of the `smoke` preset as the exporter does.

    Unlike `StandInGenerator`, this is the real serving graph: tokenizer
    (text normalisation, vocabulary lookup), text encoder and generator.

    Args:
        base_dir: serving base directory; the model lands in
            `<base_dir>/<model_name>/1`.
        model_name: the model's directory name.

    Returns:
        The version directory.
    """
    vocabulary_path = os.path.join(base_dir, vocabulary_lib.FILENAME)
    vocabulary_lib.save_vocabulary(vocabulary_lib.build_vocabulary(REAL_CAPTIONS), vocabulary_path)
    model = TextToImage.from_config(get_preset("smoke"), vocabulary_path, max_batch=4)
    return export_lib.export_saved_model(model, base_dir, model_name, version=1)
