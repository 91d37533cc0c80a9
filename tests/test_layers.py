"""Shapes, masking, value ranges and Keras serialisation of every network, at tiny sizes."""

import dataclasses
import os

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from fashion_t2i import checkpointing, networks
from fashion_t2i.config import ModelConfig
from fashion_t2i.models.blocks import GLU, ResidualBlock, unit_rms
from fashion_t2i.models.conditioning_augmentation import ConditioningAugmentation
from fashion_t2i.models.discriminator import Discriminator
from fashion_t2i.models.generator import Generator
from fashion_t2i.models.image_encoder import ImageEncoder
from fashion_t2i.models.text_encoder import TextEncoder
from fashion_t2i.models.word_attention import WordAttention

B, T, D = 3, 5, 8
VOCAB = model_fixtures.VOCABULARY_SIZE


def copy_weights(source, target):
    target.set_weights(source.get_weights())
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- TextEncoder --------------------------------------------------------------------

IDS = np.array([[3, 5, 7, 2, 0], [9, 4, 0, 0, 0], [0, 0, 0, 0, 0]], np.int32)


@pytest.fixture
def text_encoder():
    keras.utils.set_random_seed(0)
    return TextEncoder(VOCAB, embedding_dim=6, joint_dim=D, name="text_encoder")


def test_text_encoder_shapes(text_encoder):
    words, sentence = text_encoder(IDS)
    assert words.shape == (B, T, D)
    assert sentence.shape == (B, D)
    assert text_encoder.compute_output_shape((B, T)) == ((B, T, D), (B, D))


def test_text_encoder_padding_is_zero_and_empty_caption_gives_zero_sentence(text_encoder):
    words, sentence = text_encoder(IDS)
    words, sentence = words.numpy(), sentence.numpy()
    np.testing.assert_array_equal(words[IDS == 0], 0.0)
    assert np.all(np.abs(words[IDS != 0]).sum(-1) > 0)
    np.testing.assert_array_equal(sentence[2], 0.0)
    assert np.all(np.abs(sentence[:2]).sum(-1) > 0)


def test_text_encoder_sentence_is_the_two_final_states(text_encoder):
    words, sentence = text_encoder(IDS)
    words, sentence = words.numpy(), sentence.numpy()
    half = D // 2
    for i, length in enumerate([4, 2]):
        # Forward LSTM ends at the last word; backward LSTM ends at the first word.
        np.testing.assert_allclose(sentence[i, :half], words[i, length - 1, :half], atol=1e-6)
        np.testing.assert_allclose(sentence[i, half:], words[i, 0, half:], atol=1e-6)


def test_text_encoder_ignores_appended_padding(text_encoder):
    words, sentence = text_encoder(IDS)
    longer = np.concatenate([IDS, np.zeros((B, 4), np.int32)], axis=1)
    words_long, sentence_long = text_encoder(longer)
    np.testing.assert_allclose(words_long[:, :T], words, atol=1e-6)
    np.testing.assert_array_equal(words_long.numpy()[:, T:], 0.0)
    np.testing.assert_allclose(sentence_long, sentence, atol=1e-6)


def test_text_encoder_caption_independent_of_batch_neighbours(text_encoder):
    _, sentence = text_encoder(IDS)
    _, alone = text_encoder(IDS[1:2, :2])
    np.testing.assert_allclose(alone[0], sentence[1], atol=1e-6)


def test_text_encoder_odd_joint_dim_raises():
    with pytest.raises(ValueError, match="even"):
        TextEncoder(VOCAB, embedding_dim=6, joint_dim=7)


def test_text_encoder_serialisation_round_trip(text_encoder):
    expected = text_encoder(IDS)
    copy = model_fixtures.assert_config_round_trip(text_encoder)
    copy(IDS)
    copy_weights(text_encoder, copy)
    model_fixtures.assert_same_outputs(copy(IDS), expected)


def test_text_encoder_constant_initializer_survives_round_trip():
    matrix = np.arange(VOCAB * 4, dtype=np.float32).reshape(VOCAB, 4)
    encoder = TextEncoder(
        VOCAB, embedding_dim=4, joint_dim=D,
        embeddings_initializer=keras.initializers.Constant(matrix),
    )
    copy = model_fixtures.assert_config_round_trip(encoder)
    copy(IDS)
    np.testing.assert_array_equal(copy.embedding.embeddings.numpy(), matrix)


# --- TextEncoder over frozen pretrained vectors (pretrained_dim) ----------------------

# Pretrained vectors of size 4 for the VOCAB words: row i is [4i, 4i+1, 4i+2, 4i+3] / 10.
VECTORS = np.arange(VOCAB * 4, dtype=np.float32).reshape(VOCAB, 4) / 10
PROJECTION_KERNEL = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0]], np.float32)
PROJECTION_BIAS = np.array([0.1, -0.2, 0.3], np.float32)


def projected_encoder(word_offsets=True, **kwargs):
    keras.utils.set_random_seed(0)
    encoder = TextEncoder(
        VOCAB, embedding_dim=3, joint_dim=D,
        embeddings_initializer=keras.initializers.Constant(VECTORS),
        pretrained_dim=4, word_offsets=word_offsets, name="text_encoder", **kwargs,
    )
    encoder(IDS)
    return encoder


def paths(variables):
    return {v.path for v in variables}


def test_projected_table_is_frozen_and_offsets_start_at_zero():
    encoder = projected_encoder()
    table = encoder.embedding.embeddings

    assert table.path in paths(encoder.non_trainable_weights)
    assert table.path not in paths(encoder.trainable_weights)
    np.testing.assert_array_equal(table.numpy(), VECTORS)
    assert encoder.offsets.embeddings.path in paths(encoder.trainable_weights)
    assert encoder.offsets.embeddings.shape == (VOCAB, 4)
    np.testing.assert_array_equal(encoder.offsets.embeddings.numpy(), 0.0)
    assert encoder.projection.kernel.shape == (4, 3)
    assert encoder.projection.kernel.path in paths(encoder.trainable_weights)


def test_projected_mode_without_offsets_has_no_offsets():
    encoder = projected_encoder(word_offsets=False)
    assert encoder.offsets is None
    assert paths(encoder.non_trainable_weights) == {encoder.embedding.embeddings.path}


def test_projected_words_enter_the_lstm_as_projected_vector_plus_offset():
    encoder = projected_encoder()
    offsets = np.zeros((VOCAB, 4), np.float32)
    offsets[3] = 1.0
    offsets[5] = [0, 0, 0, -2]
    encoder.offsets.embeddings.assign(offsets)
    encoder.projection.kernel.assign(PROJECTION_KERNEL)
    encoder.projection.bias.assign(PROJECTION_BIAS)

    # Each word's LSTM input: (vector + offset) @ kernel + bias.
    inputs = (VECTORS + offsets) @ PROJECTION_KERNEL + PROJECTION_BIAS
    # By hand, word 3: [1.2, 1.3, 1.4, 1.5] + 1 = [2.2, 2.3, 2.4, 2.5]
    # -> [2.2 + 2.5, 2.3 - 2.5, 2.4] + bias = [4.8, -0.4, 2.7].
    np.testing.assert_allclose(inputs[3], [4.8, -0.4, 2.7], atol=1e-6)
    # Word 5: [2.0, 2.1, 2.2, 2.3 - 2] -> [2.3, 1.8, 2.2] + bias = [2.4, 1.6, 2.5].
    np.testing.assert_allclose(inputs[5], [2.4, 1.6, 2.5], atol=1e-6)

    # A trained-table encoder whose table is those inputs, with the same LSTM,
    # gives the same word and sentence features.
    reference = TextEncoder(
        VOCAB, embedding_dim=3, joint_dim=D,
        embeddings_initializer=keras.initializers.Constant(inputs),
    )
    reference(IDS)
    reference.lstm.set_weights(encoder.lstm.get_weights())
    model_fixtures.assert_same_outputs(encoder(IDS), reference(IDS), atol=1e-5)


def test_training_moves_the_offsets_of_used_words_only_and_never_the_table():
    encoder = projected_encoder()
    ids = np.array([[2, 3, 2], [3, 3, 2]], np.int32)  # only words 2 and 3, no padding
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    projection_before = encoder.projection.kernel.numpy().copy()
    for _ in range(3):
        with tf.GradientTape() as tape:
            words, sentence = encoder(ids, training=True)
            loss = tf.reduce_mean(tf.square(sentence - 1.0)) + tf.reduce_mean(words)
        gradients = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply(gradients, encoder.trainable_variables)

    np.testing.assert_array_equal(encoder.embedding.embeddings.numpy(), VECTORS)
    offsets = encoder.offsets.embeddings.numpy()
    assert np.all(np.abs(offsets[[2, 3]]).sum(-1) > 0)
    unused = [i for i in range(VOCAB) if i not in (2, 3)]
    np.testing.assert_array_equal(offsets[unused], 0.0)
    assert not np.array_equal(encoder.projection.kernel.numpy(), projection_before)


def test_table_and_projected_starts_as_the_trained_table_and_adds_the_projected_vectors():
    encoder = projected_encoder(word_offsets=False, word_table=True)
    assert encoder.offsets is None
    assert encoder.table.embeddings.path in paths(encoder.trainable_weights)
    assert encoder.embedding.embeddings.path in paths(encoder.non_trainable_weights)
    # The map starts at zero: the LSTM reads the trained table alone.
    np.testing.assert_array_equal(encoder.projection.kernel.numpy(), 0.0)
    table = encoder.table.embeddings.numpy()
    reference = TextEncoder(
        VOCAB, embedding_dim=3, joint_dim=D,
        embeddings_initializer=keras.initializers.Constant(table),
    )
    reference(IDS)
    reference.lstm.set_weights(encoder.lstm.get_weights())
    model_fixtures.assert_same_outputs(encoder(IDS), reference(IDS), atol=1e-6)

    # With a map: table row + vector @ kernel + bias.
    encoder.projection.kernel.assign(PROJECTION_KERNEL)
    encoder.projection.bias.assign(PROJECTION_BIAS)
    # Word 3 by hand: [1.2, 1.3, 1.4, 1.5] -> [2.7, -0.2, 1.4] + bias = [2.8, -0.4, 1.7].
    inputs = table + VECTORS @ PROJECTION_KERNEL + PROJECTION_BIAS
    np.testing.assert_allclose(inputs[3] - table[3], [2.8, -0.4, 1.7], atol=1e-6)
    reference.embedding.embeddings.assign(inputs)
    model_fixtures.assert_same_outputs(encoder(IDS), reference(IDS), atol=1e-5)
    assert TextEncoder.from_config(encoder.get_config()).word_table


def test_word_table_dropout_leaves_whole_rows_out_in_training_only():
    encoder = TextEncoder(
        VOCAB, embedding_dim=3, joint_dim=D,
        embeddings_initializer=keras.initializers.Constant(VECTORS),
        pretrained_dim=4, word_table=True, word_table_dropout=0.5,
    )
    ids = np.tile(np.arange(1, VOCAB), (64, 1)).astype(np.int32)
    encoder(ids)
    encoder.projection.bias.assign([0.5, -0.5, 0.25])
    table = encoder.table.embeddings.numpy()
    bias = encoder.projection.bias.numpy()

    # Inference: every row, as without dropout (the map is still zero).
    np.testing.assert_allclose(encoder.embed(ids).numpy(), table[ids] + bias, atol=1e-6)

    # Training: each word's row is kept whole (not rescaled) or left out.
    inputs = encoder.embed(ids, training=True).numpy()
    kept = np.all(np.isclose(inputs, table[ids] + bias, atol=1e-6), axis=-1)
    dropped = np.all(np.isclose(inputs, bias, atol=1e-6), axis=-1)
    assert np.all(kept | dropped)
    assert 0.4 < dropped.mean() < 0.6
    assert not np.array_equal(dropped, encoder.embed(ids, training=True).numpy()[..., 0] == bias[0])
    restored = TextEncoder.from_config(encoder.get_config())
    assert restored.word_table_dropout == 0.5


def test_word_table_dropout_needs_the_word_table():
    with pytest.raises(ValueError, match=r"word_table_dropout must be in \[0, 1\) and needs"):
        TextEncoder(
            VOCAB, embedding_dim=3, joint_dim=D, pretrained_dim=4, word_table_dropout=0.5
        )


def test_word_table_without_pretrained_table_raises():
    with pytest.raises(ValueError, match=r"word_table needs a pretrained table"):
        TextEncoder(VOCAB, embedding_dim=3, joint_dim=D, word_table=True)


def test_word_offsets_without_pretrained_table_raises():
    with pytest.raises(ValueError, match=r"word_offsets needs a pretrained table"):
        TextEncoder(VOCAB, embedding_dim=6, joint_dim=D, word_offsets=True)


def test_projected_encoder_serialisation_round_trip():
    encoder = projected_encoder()
    encoder.offsets.embeddings.assign(np.full((VOCAB, 4), 0.5, np.float32))
    expected = encoder(IDS)

    copy = model_fixtures.assert_config_round_trip(encoder)
    assert copy.pretrained_dim == 4 and copy.word_offsets
    copy(IDS)
    assert copy.embedding.embeddings.path in paths(copy.non_trainable_weights)
    np.testing.assert_array_equal(copy.embedding.embeddings.numpy(), VECTORS)
    copy_weights(encoder, copy)
    model_fixtures.assert_same_outputs(copy(IDS), expected)


# --- networks.text_encoder: the embedding from ModelConfig's word vectors ---------------

VECTOR_TOKENS = ["[PAD]", "[UNK]", "dress", "red", "coat"]


@pytest.fixture
def vectors_file(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("red 1 2 3 4\ndress 5 6 7 8\nskirt 9 9 9 9\n", encoding="utf-8")
    return str(path)


def vectors_config(path, **kwargs):
    return ModelConfig(
        word_vectors_path=path, word_vectors_dim=4, embedding_dim=6, joint_dim=D, **kwargs
    )


@pytest.mark.parametrize("mode", ["projected", "projected_offsets", "table_and_projected"])
def test_networks_text_encoder_freezes_the_file_vectors(vectors_file, mode):
    encoder = networks.text_encoder(
        vectors_config(vectors_file, embedding_mode=mode), len(VECTOR_TOKENS), VECTOR_TOKENS
    )
    encoder(IDS % len(VECTOR_TOKENS))

    table = encoder.embedding.embeddings
    assert table.shape == (5, 4) and table.path in paths(encoder.non_trainable_weights)
    np.testing.assert_array_equal(table.numpy()[2:4], [[5, 6, 7, 8], [1, 2, 3, 4]])
    np.testing.assert_array_equal(table.numpy()[0], 0.0)
    assert np.all(np.abs(table.numpy()[[1, 4]]) <= 0.05)
    assert encoder.pretrained_dim == 4
    assert encoder.word_offsets == (mode == "projected_offsets")
    assert encoder.word_table == (mode == "table_and_projected")
    assert encoder.projection.kernel.shape == (4, 6)


def test_networks_text_encoder_trainable_mode_needs_vectors_of_embedding_dim(vectors_file):
    config = vectors_config(vectors_file, embedding_mode="trainable")
    with pytest.raises(ValueError, match=r"vectors\.txt: vectors of size 4, embedding_dim is 6"):
        networks.text_encoder(config, len(VECTOR_TOKENS), VECTOR_TOKENS)


def test_networks_text_encoder_projected_mode_names_word_vectors_dim(vectors_file):
    config = dataclasses.replace(
        vectors_config(vectors_file, embedding_mode="projected"), word_vectors_dim=5
    )
    with pytest.raises(ValueError, match=r"size 4, word_vectors_dim \(--word_vectors_dim\) is 5"):
        networks.text_encoder(config, len(VECTOR_TOKENS), VECTOR_TOKENS)


# --- ImageEncoder (InceptionV3 at its 75 px minimum; built once per module) ------------


@pytest.fixture(scope="module")
def image_encoder():
    keras.utils.set_random_seed(1)
    encoder = ImageEncoder(joint_dim=D, input_size=75, weights=None, name="image_encoder")
    encoder(tf.zeros([1, 32, 32, 3]))
    return encoder


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(2)
    return tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32)


def test_image_encoder_shapes_and_nine_regions(image_encoder, images):
    regions, global_feature = image_encoder(images)
    assert image_encoder.num_regions == 9  # 3 x 3 at 75 px
    assert regions.shape == (2, 9, D)
    assert global_feature.shape == (2, D)
    assert image_encoder.compute_output_shape((2, 32, 32, 3)) == ((2, 9, D), (2, D))
    # The default tap is Keras mixed7 (TF-slim Mixed_6e).
    assert image_encoder.trunk.outputs[0] is image_encoder.trunk.get_layer("mixed7").output
    assert np.all(np.isfinite(regions.numpy()))


def test_image_encoder_random_trunk_is_trainable(image_encoder):
    assert image_encoder.train_trunk
    # Trunk plus the two projections (W without bias, W_bar with bias).
    assert len(image_encoder.trainable_variables) > 3


def test_image_encoder_mixed6_tap():
    encoder = ImageEncoder(joint_dim=4, region_layer="mixed6", input_size=75)
    regions, global_feature = encoder(tf.zeros([1, 40, 40, 3]))
    assert encoder.num_regions == 9
    assert regions.shape == (1, 9, 4)
    assert global_feature.shape == (1, 4)
    assert encoder.trunk.outputs[0] is encoder.trunk.get_layer("mixed6").output


def test_image_encoder_mixed2_tap():
    # Keras mixed2 (TF-slim Mixed_5d): 7 x 7 regions of 288 channels at 75 px.
    encoder = ImageEncoder(joint_dim=4, region_layer="mixed2", input_size=75)
    regions, _ = encoder(tf.zeros([1, 40, 40, 3]))
    assert encoder.num_regions == 49
    assert regions.shape == (1, 49, 4)
    assert encoder.trunk.outputs[0] is encoder.trunk.get_layer("mixed2").output
    assert encoder.region_projection.kernel.shape == (1, 1, 288, 4)


def test_image_encoder_invalid_region_layer_raises():
    with pytest.raises(ValueError, match="region_layer"):
        ImageEncoder(joint_dim=4, region_layer="mixed5", input_size=75)


def test_image_encoder_too_small_input_raises():
    with pytest.raises(ValueError, match="75"):
        ImageEncoder(joint_dim=4, input_size=74)


def test_image_encoder_missing_weights_file_raises(tmp_path):
    path = str(tmp_path / "no_such_inception.weights.h5")
    with pytest.raises((ValueError, FileNotFoundError, OSError), match="no_such_inception"):
        ImageEncoder(joint_dim=4, input_size=75, weights=path)
    assert not os.path.exists(path)


def test_image_encoder_serialisation_round_trip(image_encoder, images):
    expected = image_encoder(images)
    copy = model_fixtures.assert_config_round_trip(image_encoder)
    assert copy.get_config()["weights"] is None
    copy(images)
    copy_weights(image_encoder, copy)
    model_fixtures.assert_same_outputs(copy(images), expected, atol=1e-6)


# --- ConditioningAugmentation ---------------------------------------------------------


def test_conditioning_augmentation_shapes_and_sampling():
    keras.utils.set_random_seed(3)
    layer = ConditioningAugmentation(4, name="ca")
    sentence = tf.constant(np.random.default_rng(3).normal(size=(B, D)), tf.float32)
    epsilon = tf.constant(np.random.default_rng(4).normal(size=(B, 4)), tf.float32)
    c, mu, log_variance = layer(sentence, epsilon)
    assert c.shape == mu.shape == log_variance.shape == (B, 4)
    np.testing.assert_allclose(c, mu + epsilon * np.exp(0.5 * log_variance.numpy()), rtol=1e-5)
    c0, mu0, _ = layer(sentence, tf.zeros([B, 4]))
    np.testing.assert_allclose(c0, mu0)
    assert not np.allclose(c, c0)


def test_conditioning_augmentation_serialisation_round_trip():
    layer = ConditioningAugmentation(4, name="ca")
    sentence, epsilon = tf.ones([2, D]), tf.ones([2, 4])
    expected = layer(sentence, epsilon)
    copy = model_fixtures.assert_config_round_trip(layer)
    copy(sentence, epsilon)
    copy_weights(layer, copy)
    model_fixtures.assert_same_outputs(copy(sentence, epsilon), expected)


# --- WordAttention ---------------------------------------------------------------------

WORD_MASK = np.array([[True, True, True, False, False], [True, False, False, False, False],
                      [True, True, True, True, True]])


@pytest.fixture
def attention_inputs():
    rng = np.random.default_rng(5)
    h = tf.constant(rng.normal(size=(B, 4, 4, 6)), tf.float32)
    words = tf.constant(rng.normal(size=(B, T, D)), tf.float32)
    return h, words, tf.constant(WORD_MASK)


def test_word_attention_shapes_and_weights(attention_inputs):
    h, words, mask = attention_inputs
    layer = WordAttention(6, name="attention")
    context, attention = layer(h, words, mask)
    assert context.shape == (B, 4, 4, 6)
    assert attention.shape == (B, T, 4, 4)
    attention = attention.numpy()
    # Every pixel's weights sum to 1 over the unmasked words, 0 on padding.
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    for i in range(B):
        np.testing.assert_array_equal(attention[i, ~WORD_MASK[i]], 0.0)
    # A caption with one word attends only to it.
    np.testing.assert_allclose(attention[1, 0], 1.0, rtol=1e-6)


def test_word_attention_context_is_the_weighted_projected_words(attention_inputs):
    h, words, mask = attention_inputs
    layer = WordAttention(6)
    context, attention = layer(h, words, mask)
    projected = words.numpy() @ layer.word_projection.kernel.numpy()  # [B, T, C]
    expected = np.einsum("bthw,btc->bhwc", attention.numpy(), projected)
    np.testing.assert_allclose(context, expected, rtol=1e-4, atol=1e-5)
    # Scores are pixel . projected word: check one pixel by hand.
    scores = projected[0, :3] @ h.numpy()[0, 2, 1]
    beta = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(attention.numpy()[0, :3, 2, 1], beta, rtol=1e-4)


def test_word_attention_all_padding_caption_gives_zero_context(attention_inputs):
    h, words, _ = attention_inputs
    mask = tf.constant(np.zeros((B, T), bool))
    context, attention = WordAttention(6)(h, words, mask)
    np.testing.assert_array_equal(attention.numpy(), 0.0)
    np.testing.assert_array_equal(context.numpy(), 0.0)


def test_word_attention_serialisation_round_trip(attention_inputs):
    layer = WordAttention(6, name="attention")
    expected = layer(*attention_inputs)
    copy = model_fixtures.assert_config_round_trip(layer)
    copy(*attention_inputs)
    copy_weights(layer, copy)
    model_fixtures.assert_same_outputs(copy(*attention_inputs), expected)


# --- GLU and ResidualBlock ----------------------------------------------------------------


def test_glu_by_hand_and_round_trip():
    x = np.array([[1.0, -2.0, 0.5, 3.0]], np.float32)  # a = [1, -2], b = [0.5, 3]
    glu = GLU(name="glu")
    out = glu(x).numpy()
    sigmoid = 1 / (1 + np.exp(-np.array([0.5, 3.0])))
    np.testing.assert_allclose(out, [[1.0 * sigmoid[0], -2.0 * sigmoid[1]]], rtol=1e-6)
    assert glu.compute_output_shape((2, 5, 5, 8)) == (2, 5, 5, 4)
    copy = model_fixtures.assert_config_round_trip(glu)
    np.testing.assert_array_equal(copy(x), out)


def test_residual_block_shape_and_round_trip():
    keras.utils.set_random_seed(6)
    block = ResidualBlock(4, name="res")
    x = tf.constant(np.random.default_rng(6).normal(size=(2, 4, 4, 4)), tf.float32)
    out = block(x, training=False)
    assert out.shape == (2, 4, 4, 4)
    assert not np.allclose(out, x)
    copy = model_fixtures.assert_config_round_trip(block)
    copy(x)
    copy_weights(block, copy)
    model_fixtures.assert_same_outputs(copy(x, training=False), out)


# --- Generator ---------------------------------------------------------------------------

Z, C = 4, 4


def generator_inputs(batch=2, words=T, seed=7):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, words), bool)
    mask[0, 3:] = False
    return {
        "sentence_feature": tf.constant(rng.normal(size=(batch, D)), tf.float32),
        "word_features": tf.constant(rng.normal(size=(batch, words, D)), tf.float32),
        "word_mask": tf.constant(mask),
        "noise": tf.constant(rng.normal(size=(batch, Z)), tf.float32),
        "condition_noise": tf.constant(rng.normal(size=(batch, C)), tf.float32),
    }


def make_generator(num_refinement_stages=1, stage1_size=8):
    keras.utils.set_random_seed(8)
    return Generator(
        z_dim=Z, condition_dim=C, gf_dim=4, stage1_size=stage1_size,
        num_refinement_stages=num_refinement_stages, residual_blocks=1, name="generator",
    )


@pytest.mark.parametrize("num_refinement_stages", [0, 1, 2])
def test_generator_stages(num_refinement_stages):
    generator = make_generator(num_refinement_stages)
    inputs = generator_inputs()
    outputs = generator(inputs, training=False)
    sizes = [8 * 2**k for k in range(num_refinement_stages + 1)]
    assert [tuple(x.shape) for x in outputs["images"]] == [(2, s, s, 3) for s in sizes]
    # One attention map per refinement stage, at the size of the stage's input.
    assert [tuple(a.shape) for a in outputs["attention"]] == [(2, T, s, s) for s in sizes[:-1]]
    for image in outputs["images"]:
        assert np.all(np.abs(image.numpy()) <= 1.0)
    for attention in outputs["attention"]:
        attention = attention.numpy()
        np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(attention[0, 3:], 0.0)
    assert outputs["mu"].shape == outputs["log_variance"].shape == (2, C)


def test_generator_images_stay_in_range_for_large_activations():
    generator = make_generator(num_refinement_stages=1)
    inputs = generator_inputs()
    generator(inputs)
    # Scale up the RGB heads so that an unbounded output would leave [-1, 1].
    for head in generator.heads:
        head.kernel.assign(head.kernel * 1000.0)
    for image in generator(inputs, training=False)["images"]:
        values = np.abs(image.numpy())
        assert values.max() <= 1.0
        assert values.max() > 0.99


def test_generator_stage1_size_16_uses_two_upsamplings():
    generator = make_generator(num_refinement_stages=1, stage1_size=16)
    outputs = generator(generator_inputs(batch=1))
    assert [x.shape[1] for x in outputs["images"]] == [16, 32]
    assert len(generator.stage1_blocks) == 2


def test_generator_depends_on_noise_and_words():
    generator = make_generator()
    inputs = generator_inputs()
    base = generator(inputs, training=False)["images"][-1].numpy()
    other_noise = dict(inputs, noise=inputs["noise"] + 1.0)
    assert not np.allclose(generator(other_noise, training=False)["images"][-1], base)
    other_words = dict(inputs, word_features=inputs["word_features"] * -1.0)
    assert not np.allclose(generator(other_words, training=False)["images"][-1], base)


def test_unit_rms_by_hand():
    x = tf.constant([[3.0, 4.0], [0.0, 0.0], [-1e-4, 1e-4]])
    # rms([3, 4]) = sqrt((9 + 16) / 2) = 3.5355...
    expected = [[3.0 / 12.5**0.5, 4.0 / 12.5**0.5], [0.0, 0.0], [-1.0, 1.0]]
    np.testing.assert_allclose(unit_rms(x).numpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_unit_rms_keeps_dtype_and_padding_zero_in_half_precision(dtype):
    x = tf.cast(tf.constant([[0.0, 0.0, 0.0], [1e-3, 2e-3, -2e-3]]), dtype)
    y = unit_rms(x)
    assert y.dtype == x.dtype
    y = tf.cast(y, tf.float32).numpy()
    np.testing.assert_array_equal(y[0], 0.0)
    np.testing.assert_allclose(np.sqrt(np.mean(y[1] ** 2)), 1.0, rtol=1e-2)


def test_generator_reads_text_at_unit_scale():
    # A text encoder trained by cosine losses may end at any scale: a tiny one
    # must not hide the caption (the images are the same as at scale 1).
    generator = make_generator()
    inputs = generator_inputs()
    base = generator(inputs, training=False)["images"][-1].numpy()
    tiny = dict(
        inputs,
        sentence_feature=inputs["sentence_feature"] * 1e-3,
        word_features=inputs["word_features"] * 1e-3,
    )
    np.testing.assert_allclose(generator(tiny, training=False)["images"][-1], base, atol=1e-5)


def test_generator_serialisation_round_trip():
    generator = make_generator(num_refinement_stages=2)
    inputs = generator_inputs()
    expected = generator(inputs, training=False)
    copy = model_fixtures.assert_config_round_trip(generator)
    copy(inputs)
    copy_weights(generator, copy)
    model_fixtures.assert_same_outputs(copy(inputs, training=False), expected)


# --- Discriminator -------------------------------------------------------------------------


@pytest.mark.parametrize("image_size", [8, 16])
def test_discriminator_three_logits(image_size):
    discriminator = Discriminator(image_size, df_dim=4, sentence_dim=D, name="d")
    rng = np.random.default_rng(9)
    images = tf.constant(rng.uniform(-1, 1, (3, image_size, image_size, 3)), tf.float32)
    sentence = tf.constant(rng.normal(size=(3, D)), tf.float32)
    wrong = tf.constant(rng.normal(size=(3, D)), tf.float32)
    logits, conditional, none = discriminator(images, sentence)
    assert logits.shape == conditional.shape == (3,)
    assert none is None
    logits_w, conditional_w, wrong_logits = discriminator(images, sentence, wrong)
    assert wrong_logits.shape == (3,)
    np.testing.assert_allclose(logits_w, logits, rtol=1e-6)
    np.testing.assert_allclose(conditional_w, conditional, rtol=1e-6)
    assert not np.allclose(wrong_logits, conditional)
    # The wrong-caption logit is the conditional logit of the wrong sentence.
    _, conditional_of_wrong, _ = discriminator(images, wrong)
    np.testing.assert_allclose(wrong_logits, conditional_of_wrong, rtol=1e-5)


def test_discriminator_stacks_the_logits_of_several_wrong_captions():
    discriminator = Discriminator(8, df_dim=4, sentence_dim=D, name="d")
    rng = np.random.default_rng(13)
    images = tf.constant(rng.uniform(-1, 1, (3, 8, 8, 3)), tf.float32)
    sentence, first, second = (
        tf.constant(rng.normal(size=(3, D)), tf.float32) for _ in range(3)
    )
    _, _, wrong = discriminator(images, sentence, [first, second])
    assert wrong.shape == (2, 3)
    for row, caption in zip(wrong, (first, second)):
        np.testing.assert_allclose(row, discriminator(images, caption)[1], rtol=1e-5)


def test_discriminator_reads_the_sentence_at_unit_scale():
    discriminator = Discriminator(8, df_dim=4, sentence_dim=D, name="d")
    rng = np.random.default_rng(11)
    images = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 3)), tf.float32)
    sentence = tf.constant(rng.normal(size=(2, D)), tf.float32)
    _, conditional, _ = discriminator(images, sentence)
    _, conditional_tiny, _ = discriminator(images, sentence * 1e-3)
    np.testing.assert_allclose(conditional_tiny, conditional, rtol=1e-4, atol=1e-6)


def test_discriminator_serialisation_round_trip():
    discriminator = Discriminator(16, df_dim=4, sentence_dim=D, name="d")
    images = tf.constant(np.random.default_rng(10).uniform(-1, 1, (2, 16, 16, 3)), tf.float32)
    sentence = tf.ones([2, D])
    expected = discriminator(images, sentence, sentence)
    copy = model_fixtures.assert_config_round_trip(discriminator)
    copy(images, sentence, sentence)
    copy_weights(discriminator, copy)
    model_fixtures.assert_same_outputs(copy(images, sentence, sentence), expected)


def test_discriminator_attribute_heads_read_the_pooled_features():
    discriminator = Discriminator(
        16, df_dim=4, sentence_dim=D, attribute_heads={"class": 10, "colour": 13}, name="d"
    )
    images = tf.constant(np.random.default_rng(12).uniform(-1, 1, (3, 16, 16, 3)), tf.float32)
    sentence = tf.ones([3, D])
    logits, conditional, wrong, heads = discriminator(
        images, sentence, return_attribute_logits=True
    )
    assert wrong is None and set(heads) == {"class", "colour"}
    assert heads["class"].shape == (3, 10) and heads["colour"].shape == (3, 13)
    # The seed's logits do not change with the heads asked for.
    model_fixtures.assert_same_outputs((logits, conditional), discriminator(images, sentence)[:2])
    features = ops.mean(discriminator.features(images), axis=(1, 2))
    np.testing.assert_allclose(
        heads["colour"], discriminator.attribute_logits["colour"](features), rtol=1e-5
    )
    # The heads' weights are among the discriminator's variables, which is
    # what `checkpointing.gan_checkpoint` saves and restores.
    assert {v.path.split("/")[-2] for v in discriminator.variables} >= {
        "class_logit", "colour_logit"
    }
    copy = model_fixtures.assert_config_round_trip(discriminator)
    assert copy.attribute_heads == {"class": 10, "colour": 13}
    with pytest.raises(ValueError, match="no attribute heads"):
        Discriminator(8, df_dim=4, sentence_dim=D)(
            images[:, :8, :8], sentence, return_attribute_logits=True
        )
    with pytest.raises(ValueError, match=">= 2 values"):
        Discriminator(8, attribute_heads={"class": 1})


# --- Deserialised layers hold their weights (Keras contract: build() creates them) ------------



def _built_layer(name):
    """The layer `name`, called once so that it holds its weights."""
    rng = np.random.default_rng(11)
    h = tf.constant(rng.normal(size=(2, 4, 4, 4)), tf.float32)
    words = tf.constant(rng.normal(size=(2, T, D)), tf.float32)
    cases = {
        "text_encoder": lambda: (TextEncoder(VOCAB, embedding_dim=6, joint_dim=D), (IDS,)),
        "conditioning": lambda: (
            ConditioningAugmentation(4), (tf.ones([2, D]), tf.ones([2, 4]))
        ),
        "word_attention": lambda: (WordAttention(4), (h, words, tf.constant(WORD_MASK[:2]))),
        "residual_block": lambda: (ResidualBlock(4), (h,)),
        "generator": lambda: (make_generator(), (generator_inputs(),)),
        "discriminator": lambda: (
            Discriminator(8, 4, D), (tf.zeros([2, 8, 8, 3]), tf.ones([2, D]))
        ),
    }
    layer, args = cases[name]()
    layer(*args)
    assert layer.weights
    return layer


@pytest.mark.parametrize(
    "name",
    [
        "text_encoder",
        "generator",
        "conditioning",
        "word_attention",
        "residual_block",
        "discriminator",
    ],
)
def test_deserialized_layer_has_its_weights_before_first_call(name):
    layer = _built_layer(name)
    copy = keras.layers.deserialize(keras.layers.serialize(layer))
    # set_weights right after deserialize is what Keras loading does.
    assert [tuple(w.shape) for w in copy.weights] == [tuple(w.shape) for w in layer.weights]
    copy_weights(layer, copy)


def test_discriminator_keras_file_round_trip_keeps_weights(tmp_path):
    discriminator = Discriminator(8, df_dim=4, sentence_dim=D, name="d")
    images = tf.constant(np.random.default_rng(12).uniform(-1, 1, (2, 8, 8, 3)), tf.float32)
    sentence = tf.ones([2, D])
    expected = discriminator(images, sentence, sentence)
    path = str(tmp_path / "discriminator.keras")
    discriminator.save(path)
    loaded = keras.saving.load_model(path)
    model_fixtures.assert_same_outputs(loaded(images, sentence, sentence), expected, atol=1e-6)


# --- checkpoints (checkpointing.variable_checkpoint, what train_lib and export use) -------


@pytest.mark.parametrize(
    "name",
    ["text_encoder", "conditioning", "word_attention", "residual_block", "generator",
     "discriminator"],
)
def test_variable_checkpoint_round_trip_restores_every_variable(name, tmp_path):
    layer = _built_layer(name)
    path = checkpointing.variable_checkpoint(layer=layer).save(str(tmp_path / "ckpt"))
    saved = model_fixtures.snapshot(layer.weights)
    for variable in layer.weights:
        variable.assign(tf.zeros_like(variable) + 0.25)
    checkpointing.variable_checkpoint(layer=layer).restore(path).assert_consumed()
    for variable, value in zip(layer.weights, saved):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
