"""Text normalisation shared by the data pipeline and the serving graph.

Only ops TF Serving has: core TensorFlow string ops, and tensorflow-text's
`normalize_utf8` / `case_fold_utf8`.
"""

import tensorflow as tf
import tensorflow_text as tf_text

# Any run of characters that is not a letter or a digit (in any script)
# separates words. RE2's \W is ASCII-only and would split "café".
WORD_SEPARATOR = r"[^\p{L}\p{N}]+"


def normalize(texts, max_bytes=None):
    """NFKC-normalises and case-folds a string tensor.

    Bytes that are not valid UTF-8 become U+FFFD (and so a word separator)
    instead of failing, so a client can never crash the graph with bad bytes.

    Args:
        texts: string tensor of any shape.
        max_bytes: if given, texts are first cut to this many bytes.
    """
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if max_bytes is not None:
        texts = tf.strings.substr(texts, 0, max_bytes)
    texts = tf.strings.unicode_transcode(
        texts,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )
    return tf_text.case_fold_utf8(tf_text.normalize_utf8(texts, "NFKC"))


def split_words(texts):
    """Splits normalised texts [B] into a ragged [B, (words)] tensor."""
    return tf.strings.split(tf.strings.strip(tf.strings.regex_replace(texts, WORD_SEPARATOR, " ")))
