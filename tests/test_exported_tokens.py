"""The exported graph tokenises as the Python tokenizer does, on awkward texts.

Every signature of the SavedModel returns the tokens the generator was
conditioned on and the words as typed; they must equal `Tokenizer` +
`detokenize` and `typed_words` in Python (and `TextToImage.generate`'s) for
accents, emoji, punctuation, case, NFKC forms, texts beyond `max_words` and
beyond `max_text_bytes`, with "[UNK]" in the tokens exactly where a typed
word is not in the vocabulary. Over a vocabulary of caption words and GloVe's
most frequent words, tf.data and a reloaded SavedModel give the same ids.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from export import export_lib
from fashion_t2i.config import get_preset
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text import word_vectors
from fashion_t2i.text.tokenizer import Tokenizer
from fashion_t2i.text_to_image import TextToImage

CONFIG = get_preset("smoke")  # max_words 8
MAX_TEXT_BYTES = 64
CAPTIONS = ["red crêpe de chine dress", "naïve appliqué top", "fine red top 42"]

CORPUS = [
    "Crêpe de chine dress",
    "NAÏVE appliqué top",
    "CRÊPE",
    "Cre\u0302pe nai\u0308ve applique\u0301",  # combining marks: NFKC composes them
    "ＲＥＤ \ufb01ne dress",  # full-width letters, "ﬁ" ligature
    "red \U0001f457 dress \u2728 appliqué\U0001f380top",  # emoji separate words
    "red,dress;(appliqué)!!--top...",
    "Size 42 CRÊPE dress, 100% coton",
    "  \t crêpe\n",
    "Straße",
    "red dress top fine de chine red dress top fine",  # 10 words, 46 bytes
    "top " + "a" * 55 + " naïve",  # cut at 64 bytes after "naï"
    "top " + "a" * 56 + " naïve",  # cut at 64 bytes inside "ï"
    "red dress " * 20,  # beyond both limits
]
EXPECTED = {  # by hand, for some rows: the tokens are right, not merely equal
    0: ["crêpe", "de", "chine", "dress"],
    1: ["naïve", "appliqué", "top"],
    2: ["crêpe"],
    3: ["crêpe", "naïve", "appliqué"],
    4: ["red", "fine", "dress"],
    5: ["red", "dress", "appliqué", "top"],
    6: ["red", "dress", "appliqué", "top"],
    7: ["[UNK]", "42", "crêpe", "dress", "[UNK]", "[UNK]"],
    8: ["crêpe"],
    9: ["[UNK]"],
    10: ["red", "dress", "top", "fine", "de", "chine", "red", "dress"],
    11: ["top", "[UNK]", "[UNK]"],
    12: ["top", "[UNK]", "[UNK]"],
    13: ["red", "dress"] * 4,
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / vocabulary_lib.FILENAME)
    vocabulary_lib.save_vocabulary(vocabulary_lib.build_vocabulary(CAPTIONS), path)
    return TextToImage.from_config(
        CONFIG, path, max_batch=len(CORPUS), max_text_bytes=MAX_TEXT_BYTES
    )


# By hand: the typed words of CORPUS[7], unknown where the tokens say "[UNK]".
TYPED_WORDS_7 = ["size", "42", "crêpe", "dress", "100", "coton"]


@pytest.fixture(scope="module")
def signatures(model, tmp_path_factory):
    path = export_lib.export_saved_model(model, str(tmp_path_factory.mktemp("export")), "t2i")
    return tf.saved_model.load(path).signatures


@pytest.fixture(scope="module")
def attention_signature(signatures):
    return signatures["attention"]


def as_lists(tokens):
    return [[t.decode("utf-8") for t in row] for row in np.asarray(tokens)]


def without_padding(row):
    return [t for t in row if t]


@pytest.fixture(scope="module")
def python_tokens(model):
    ids, _ = model.tokenizer(tf.constant(CORPUS))
    return as_lists(model.tokenizer.detokenize(ids))


@pytest.fixture(scope="module")
def python_words(model):
    return as_lists(model.tokenizer.typed_words(tf.constant(CORPUS)))


def test_the_python_tokens_are_the_expected_ones(python_tokens):
    assert all(len(row) == CONFIG.text.max_words for row in python_tokens)
    for index, expected in EXPECTED.items():
        assert without_padding(python_tokens[index]) == expected, CORPUS[index]
        padding = CONFIG.text.max_words - len(expected)
        assert python_tokens[index][len(expected):] == [""] * padding


def test_generate_returns_the_tokenizer_tokens(model, python_tokens):
    seeds = tf.range(len(CORPUS), dtype=tf.int64)
    assert as_lists(model.generate(tf.constant(CORPUS), seeds)["tokens"]) == python_tokens


def assert_unknown_exactly_where_words_are_not_in_the_vocabulary(model, tokens, words):
    known = set(model.tokenizer.tokens[2:])
    for token_row, word_row in zip(tokens, words):
        for token, word in zip(token_row, word_row):
            if not word:
                assert token == ""
            elif word in known:
                assert token == word
            else:
                assert token == vocabulary_lib.OOV_TOKEN, (word, token)


def test_the_python_words_are_the_typed_words(model, python_tokens, python_words):
    assert python_words[7] == TYPED_WORDS_7 + ["", ""]
    assert python_tokens[7] == ["[UNK]", "42", "crêpe", "dress", "[UNK]", "[UNK]", "", ""]
    assert python_words[13] == ["red", "dress"] * 4
    assert_unknown_exactly_where_words_are_not_in_the_vocabulary(model, python_tokens, python_words)


def test_generate_returns_the_typed_words(model, python_words):
    seeds = tf.range(len(CORPUS), dtype=tf.int64)
    assert as_lists(model.generate(tf.constant(CORPUS), seeds)["words"]) == python_words


@pytest.mark.slow
@pytest.mark.parametrize("name", ["serving_default", "generate", "attention"])
def test_every_signature_returns_the_tokens_and_the_typed_words(
    model, signatures, python_tokens, python_words, name
):
    inputs = {"texts": tf.constant(CORPUS)}
    if name != "serving_default":
        inputs["seeds"] = tf.range(len(CORPUS), dtype=tf.int64)
    outputs = signatures[name](**inputs)

    assert outputs["tokens"].dtype == outputs["words"].dtype == tf.string
    assert outputs["words"].shape == outputs["tokens"].shape == (len(CORPUS), CONFIG.text.max_words)
    assert as_lists(outputs["tokens"]) == python_tokens
    assert as_lists(outputs["words"]) == python_words
    assert_unknown_exactly_where_words_are_not_in_the_vocabulary(
        model, as_lists(outputs["tokens"]), as_lists(outputs["words"])
    )


@pytest.mark.slow
def test_the_exported_tokens_equal_the_python_tokens(attention_signature, python_tokens):
    outputs = attention_signature(
        texts=tf.constant(CORPUS), seeds=tf.range(len(CORPUS), dtype=tf.int64)
    )
    exported = as_lists(outputs["tokens"])
    for text, got, expected in zip(CORPUS, exported, python_tokens):
        assert got == expected, text


@pytest.mark.slow
def test_the_exported_graph_replaces_invalid_utf8_as_python_does(model, attention_signature):
    texts = tf.constant([b"cr\xc3\xaape \xff dress", b"caf\xe9 top", b"\xc3red"])
    seeds = tf.zeros([3], tf.int64)
    ids, _ = model.tokenizer(texts)
    expected = as_lists(model.tokenizer.detokenize(ids))
    assert without_padding(expected[0]) == ["crêpe", "dress"]
    assert as_lists(attention_signature(texts=texts, seeds=seeds)["tokens"]) == expected


# --- Over a vocabulary of caption words + GloVe's most frequent words -----------------

GLOVE_WORDS = 20000  # holds "crimson", "gown", "scarlet", "café"; not "sneakers", "crème"
GLOVE_TEXTS = [
    "crimson gown",
    "Scarlet sneakers",
    "zzqxv",
    "CAFÉ crème, naïve",
    "Cafe\u0301 \ufb01ne red dress",  # combining accent, "ﬁ" ligature
    "red crêpe de chine dress",
    "",
]


class _TokenizerModule(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
        ids, lengths = self.tokenizer(texts)
        return {"ids": ids, "lengths": lengths, "tokens": self.tokenizer.detokenize(ids)}


@pytest.fixture
def glove_tokenizer(tmp_path_factory):
    tokens = vocabulary_lib.extend_vocabulary(
        vocabulary_lib.build_vocabulary(CAPTIONS),
        word_vectors.pretrained_words("glove-6b-50d", GLOVE_WORDS),
    )
    path = str(tmp_path_factory.mktemp("glove_vocab") / vocabulary_lib.FILENAME)
    vocabulary_lib.save_vocabulary(tokens, path)
    return Tokenizer(path, CONFIG.text.max_words)


def test_tf_data_and_the_saved_graph_give_the_same_ids_over_glove_words(
    glove_tokenizer, tmp_path
):
    dataset = tf.data.Dataset.from_tensor_slices(GLOVE_TEXTS).batch(len(GLOVE_TEXTS))
    (data_ids, data_lengths), = list(dataset.map(glove_tokenizer))

    export_dir = str(tmp_path / "tokenizer")
    tf.saved_model.save(_TokenizerModule(glove_tokenizer), export_dir)
    # The reloaded graph reads its own copy of the vocabulary (an asset).
    os.remove(glove_tokenizer.vocabulary_path)
    exported = tf.saved_model.load(export_dir).tokenize(tf.constant(GLOVE_TEXTS))

    np.testing.assert_array_equal(exported["ids"].numpy(), data_ids.numpy())
    np.testing.assert_array_equal(exported["lengths"].numpy(), data_lengths.numpy())
    tokens = [without_padding(row) for row in as_lists(exported["tokens"])]
    assert tokens == [
        ["crimson", "gown"],
        ["scarlet", "[UNK]"],
        ["[UNK]"],
        ["café", "[UNK]", "naïve"],  # "naïve" from CAPTIONS
        ["café", "fine", "red", "dress"],
        ["red", "crêpe", "de", "chine", "dress"],
        [],
    ]
    tokens_of = {token: i for i, token in enumerate(glove_tokenizer.tokens)}
    caption_words = len(vocabulary_lib.build_vocabulary(CAPTIONS))
    assert tokens_of["crimson"] >= caption_words and tokens_of["red"] < caption_words
