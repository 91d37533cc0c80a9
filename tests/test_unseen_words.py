"""Words no training caption used: the colour table and the filled embeddings, by hand."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from fashion_t2i import train_lib
from fashion_t2i.models.text_encoder import TextEncoder
from fashion_t2i.text import colour_names
from fashion_t2i.text import unseen_words

TOKENS = ["[PAD]", "[UNK]", "red", "blue", "crimson", "zzqxv"]
SEEN = {"red", "blue", "a"}
# The vectors: crimson is closer to blue than to red (as for some colour
# names in GloVe), zzqxv lies between them.
VECTORS = np.array([[0, 0], [0, 0], [1, 0], [0, 1], [0.6, 0.8], [1, 1]], dtype=np.float64)
EMBEDDINGS = np.array(
    [[0, 0, 0], [5, 5, 5], [1, 0, 0], [0, 1, 0], [9, 9, 9], [7, 7, 7]], dtype=np.float64
)


def test_srgb_to_lab_of_white_black_and_red():
    np.testing.assert_allclose(colour_names.srgb_to_lab([255, 255, 255]), [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(colour_names.srgb_to_lab([0, 0, 0]), [0, 0, 0], atol=1e-9)
    # The published CIELAB of sRGB red.
    np.testing.assert_allclose(
        colour_names.srgb_to_lab([255, 0, 0]), [53.24, 80.09, 67.20], atol=0.02
    )


def test_the_bundled_table_places_colour_names_by_their_colour():
    names = colour_names.read_colour_names()
    assert len(names) > 300
    for name in ("red", "crimson", "navy", "indigo", "turquoise", "teal"):
        assert name in names

    def distance(a, b):
        return np.linalg.norm(names[a] - names[b])

    assert distance("crimson", "red") < distance("crimson", "blue")
    assert distance("turquoise", "teal") < distance("turquoise", "red")


def test_a_malformed_colour_line_is_named(tmp_path):
    path = tmp_path / "colours.tsv"
    path.write_text("# comment\nred\t#ff0000\nblue\t0000ff\n")
    with pytest.raises(ValueError, match=r"colours.tsv:3: expected 'name<TAB>#rrggbb'"):
        colour_names.read_colour_names(str(path))


def test_softmax_neighbours_keeps_the_highest_scores_and_weighs_them():
    top, weights = unseen_words.softmax_neighbours([[0.9, 0.1, 0.5]], count=2, sharpness=1.0)
    np.testing.assert_array_equal(top, [[0, 2]])
    first = math.exp(0.4) / (math.exp(0.4) + 1.0)
    np.testing.assert_allclose(weights, [[first, 1 - first]])


def test_softmax_neighbours_breaks_ties_by_the_lower_tie_break():
    scores = [[0.5, 0.9, 0.9, 0.9]]
    top, _ = unseen_words.softmax_neighbours(scores, count=2, sharpness=1.0)
    np.testing.assert_array_equal(top, [[1, 2]])  # by index without one
    top, weights = unseen_words.softmax_neighbours(
        scores, count=3, sharpness=1.0, tie_break=[[0.0, 3.0, 1.0, 2.0]]
    )
    np.testing.assert_array_equal(top, [[2, 3, 1]])
    np.testing.assert_allclose(weights, [[1 / 3, 1 / 3, 1 / 3]])
    # The tie break never outranks a higher score.
    top, _ = unseen_words.softmax_neighbours(scores, count=4, sharpness=1.0,
                                             tie_break=[[-9.0, 3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(top, [[2, 3, 1, 0]])


def test_more_neighbours_than_candidates_takes_them_all():
    top, weights = unseen_words.softmax_neighbours([[1.0, 1.0]], count=5, sharpness=3.0)
    np.testing.assert_array_equal(top, [[0, 1]])
    np.testing.assert_allclose(weights, [[0.5, 0.5]])


def test_one_neighbour_gives_the_nearest_seen_word_in_the_vectors():
    ids, rows, sources = unseen_words.fill_embeddings(
        EMBEDDINGS, VECTORS, TOKENS, SEEN, neighbours=1
    )
    np.testing.assert_array_equal(ids, [4, 5])
    np.testing.assert_array_equal(sources, [3, 2])  # blue, red
    np.testing.assert_allclose(rows, [[0, 1, 0], [1, 0, 0]])  # crimson -> blue; a tie -> red


def test_several_neighbours_are_a_softmax_of_the_cosines():
    ids, rows, _ = unseen_words.fill_embeddings(
        EMBEDDINGS, VECTORS, TOKENS, SEEN, neighbours=2, temperature=0.5
    )
    # crimson: cosines 0.6 (red) and 0.8 (blue), softmax of 2x them.
    to_blue = 1.0 / (1.0 + math.exp(2 * (0.6 - 0.8)))
    np.testing.assert_allclose(rows[0], [1 - to_blue, to_blue, 0])
    np.testing.assert_allclose(rows[1], [0.5, 0.5, 0])


def test_colour_names_are_filled_from_the_nearest_colour_names():
    colours = {
        "red": colour_names.srgb_to_lab([200, 30, 35]),
        "blue": colour_names.srgb_to_lab([25, 35, 200]),
        "crimson": colour_names.srgb_to_lab([140, 0, 15]),
    }
    ids, rows, _ = unseen_words.fill_embeddings(
        EMBEDDINGS, VECTORS, TOKENS, SEEN, colours=colours, neighbours=1, colour_neighbours=1
    )
    np.testing.assert_allclose(rows[0], [1, 0, 0])  # crimson reads as red, not blue
    np.testing.assert_allclose(rows[1], [1, 0, 0])  # zzqxv is no colour: vectors
    _, two, sources = unseen_words.fill_embeddings(
        EMBEDDINGS, VECTORS, TOKENS, SEEN, colours=colours, colour_neighbours=2, colour_scale=20.0
    )
    d_red = np.linalg.norm(colours["crimson"] - colours["red"])
    d_blue = np.linalg.norm(colours["crimson"] - colours["blue"])
    to_red = 1.0 / (1.0 + math.exp(-(d_blue - d_red) / 20.0))
    np.testing.assert_allclose(two[0], [to_red, 1 - to_red, 0])
    np.testing.assert_array_equal(sources, [2, 2])  # crimson mostly red; zzqxv tie -> red


def test_one_colour_words_name_one_colour_in_most_of_their_captions():
    captions = [
        "A navy blue dress", "a sky blue top", "a red dress", "a red top with white dots",
        "a navy blue dress with white dots", "Scarlet shoes",
    ]
    colours = [1, 2, 0, 0, 1, 0]
    # "a" is in captions of three colours, "blue" of two (navy and sky), so are
    # "dress", "top", "with", "white" and "dots".
    assert unseen_words.one_colour_words(captions, colours) == {
        "navy", "sky", "red", "scarlet", "shoes"
    }
    # From half of the captions on, a word of two colours in equal parts qualifies.
    assert unseen_words.one_colour_words(captions, colours, 0.5) == {
        "navy", "sky", "red", "scarlet", "shoes", "blue", "dress", "top", "with", "white", "dots"
    }
    with pytest.raises(ValueError, match=r"min_share must be in \(0, 1\], got 0"):
        unseen_words.one_colour_words(captions, colours, 0)
    with pytest.raises(ValueError, match="5 colour ids for 6 captions"):
        unseen_words.one_colour_words(captions, colours[:5])



class StandInReader:
    """The part of a `FashionGenReader` that `training_words` reads."""

    def __init__(self, captions, colour_ids=None):
        self._captions, self._colour_ids = captions, colour_ids
        self.has_attributes = colour_ids is not None

    def captions(self):
        return list(self._captions)

    def attribute_ids(self, name):
        assert name == "colour_id"
        return np.asarray(self._colour_ids)


def test_training_words_are_the_caption_words_and_their_one_colour_sources():
    captions = ["A navy blue dress", "a sky blue top", "Scarlet shoes!"]
    seen, sources = unseen_words.training_words(StandInReader(captions, [1, 2, 0]))
    assert seen == {"a", "navy", "blue", "dress", "sky", "top", "scarlet", "shoes"}
    assert set(sources) == unseen_words.one_colour_words(captions, [1, 2, 0])
    # Each source with the colour id it names.
    assert sources == {"navy": 1, "dress": 1, "sky": 2, "top": 2, "scarlet": 0, "shoes": 0}
    # Without attribute ids, or not asked for: every seen colour name is a source.
    assert unseen_words.training_words(StandInReader(captions)) == (seen, None)
    assert unseen_words.training_words(StandInReader(captions, [1, 2, 0]), False) == (seen, None)
    with pytest.raises(ValueError, match="2 colour ids for 3 captions"):
        unseen_words.training_words(StandInReader(captions, [1, 2]))

def test_colour_names_read_only_as_the_colour_sources():
    tokens = TOKENS + ["violet"]
    vectors = np.vstack([VECTORS, [0.0, 1.0]])
    embeddings = np.vstack([EMBEDDINGS, [8, 8, 8]])
    colours = {
        "red": colour_names.srgb_to_lab([200, 30, 35]),
        "blue": colour_names.srgb_to_lab([25, 35, 200]),
        "violet": colour_names.srgb_to_lab([140, 60, 200]),
    }
    _, rows, sources = unseen_words.fill_embeddings(embeddings, vectors, tokens, SEEN, colours)
    assert tokens[sources[-1]] == "blue"
    np.testing.assert_allclose(rows[-1], [0, 1, 0])
    # "blue" names two colours in the captions: violet takes the nearest other source.
    _, rows, sources = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, SEEN, colours, colour_sources={"red", "a"}
    )
    assert tokens[sources[-1]] == "red"
    np.testing.assert_allclose(rows[-1], [1, 0, 0])
    # No source is a colour name: the colour name reads through the vectors (blue).
    _, rows, _ = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, SEEN, colours, colour_sources={"a"}
    )
    np.testing.assert_allclose(rows[-1], [0, 1, 0])


def test_colour_names_compare_with_the_source_colours_when_given():
    tokens = ["[PAD]", "[UNK]", "navy", "plum", "a", "indigo"]
    vectors = np.array([[0, 0], [0, 0], [1, 0], [0, 1], [1, 1], [0.1, 1]], dtype=np.float64)
    embeddings = np.vstack([np.zeros(3), np.full(3, 5.0), np.eye(3), [8, 8, 8]])
    seen = {"navy", "plum", "a"}
    # In the table indigo is nearer plum; in the images the captions' "navy"
    # names, nearer navy ("plum" names products of another colour).
    colours = {"indigo": np.array([20.0, 50, -60]), "navy": np.array([10.0, 30, -60]),
               "plum": np.array([25.0, 45, -50])}
    images = {"navy": np.array([18.0, 50, -58]), "plum": np.array([40.0, 60, -30])}
    _, rows, sources = unseen_words.fill_embeddings(embeddings, vectors, tokens, seen, colours)
    assert tokens[sources[0]] == "plum"
    _, rows, sources = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, seen, colours, source_colours=images
    )
    assert tokens[sources[0]] == "navy"
    np.testing.assert_array_equal(rows[0], [1, 0, 0])
    # A seen word without an image colour is no colour source, even if the table names it.
    _, _, sources = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, seen, colours, source_colours={"plum": images["plum"]}
    )
    assert tokens[sources[0]] == "plum"
    # Nor is one the table does not name, whatever its images.
    _, _, sources = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, seen, colours,
        source_colours={**images, "a": colours["indigo"]},
    )
    assert tokens[sources[0]] == "navy"
    # Names of one colour in the images: the table's nearer name first.
    same = {"navy": images["navy"], "plum": images["navy"]}
    _, _, sources = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, seen, colours, source_colours=same
    )
    assert tokens[sources[0]] == "plum"
    _, rows, _ = unseen_words.fill_embeddings(
        embeddings, vectors, tokens, seen, colours, source_colours=same, colour_neighbours=2
    )
    np.testing.assert_allclose(rows[0], [0.5, 0.5, 0])  # equal weights over the tie


def _coloured(rgb, size=4, background=0):
    """A [size, size, 3] uint8 image: `rgb` inside, white on the first `background` rows."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = rgb
    image[:background] = 255
    return image


def test_a_colour_ids_colour_is_the_median_of_its_product_pixels():
    red, dark_red, pale = (200, 30, 35), (150, 20, 25), (250, 245, 245)
    images = np.stack([
        _coloured(red, background=1),  # 12 red pixels
        _coloured(dark_red, background=3),  # 4 dark red pixels
        _coloured(pale),  # pale: within PRODUCT_DISTANCE of white, background
        _coloured((25, 35, 110)),
    ])
    lab = unseen_words.colour_id_colours(images, [0, 0, 0, 2], 4)
    np.testing.assert_allclose(lab[0], colour_names.srgb_to_lab(red))  # 12 of 16 pixels red
    np.testing.assert_allclose(lab[2], colour_names.srgb_to_lab([25, 35, 110]))
    assert np.isnan(lab[1]).all() and np.isnan(lab[3]).all()  # no image / none past the id
    assert np.linalg.norm(colour_names.srgb_to_lab(pale) - [100, 0, 0]) < (
        unseen_words.PRODUCT_DISTANCE
    )
    # With the pale image's pixels counted as the product's, the median moves.
    moved = unseen_words.colour_id_colours(images, [0, 0, 0, 2], 4, product_distance=0.0)
    assert not np.allclose(moved[0], lab[0])


class _ImageReader:
    """The part of `FashionGenReader` that `image_colours` reads."""

    block_size = 2

    def __init__(self, images, colour_ids):
        self.images, self.colour_ids = np.asarray(images), np.asarray(colour_ids)
        self.valid_rows = np.arange(len(images))
        self.reads = []

    def read_rows(self, rows):
        self.reads.append(list(rows))
        return {"image": self.images[rows], "colour_id": self.colour_ids[rows]}


def test_image_colours_give_each_source_its_colour_ids_colour():
    olive, brown = (120, 120, 30), (120, 70, 30)
    reader = _ImageReader([_coloured(olive), _coloured(brown), _coloured(olive),
                           _coloured(brown), _coloured((0, 0, 0))], [0, 1, 0, 1, 2])
    lab = unseen_words.image_colours(reader, {"navy": 0, "coffee": 1, "ink": 2}, max_rows=4)
    assert reader.reads == [[0, 1], [2, 3]]  # in blocks, the first max_rows rows only
    assert set(lab) == {"navy", "coffee"}  # no image of colour 2 among them
    np.testing.assert_allclose(lab["navy"], colour_names.srgb_to_lab(olive))
    np.testing.assert_allclose(lab["coffee"], colour_names.srgb_to_lab(brown))


def test_image_colours_subsample_each_image(monkeypatch):
    # Olive on even rows and columns, brown elsewhere: 4 of 16 pixels olive.
    olive, brown = (120, 120, 30), (120, 70, 30)
    image = _coloured(brown)
    image[::2, ::2] = olive
    reader = _ImageReader([image], [0])
    whole = unseen_words.image_colours(reader, {"coffee": 0})
    np.testing.assert_allclose(whole["coffee"], colour_names.srgb_to_lab(brown))
    monkeypatch.setattr(unseen_words, "COLOUR_SIDE", 2)  # every other pixel of every other row
    sampled = unseen_words.image_colours(reader, {"coffee": 0})
    np.testing.assert_allclose(sampled["coffee"], colour_names.srgb_to_lab(olive))


def test_special_tokens_are_neither_neighbours_nor_filled():
    seen = SEEN | {"[UNK]"}
    ids, rows, _ = unseen_words.fill_embeddings(EMBEDDINGS, VECTORS, TOKENS, seen, neighbours=3)
    np.testing.assert_array_equal(ids, [4, 5])
    assert np.all(rows[:, 2] == 0)  # [UNK]'s row (5, 5, 5) never enters a mean


def test_a_vocabulary_without_seen_words_is_refused():
    with pytest.raises(ValueError, match="No token of the vocabulary is a word of the training"):
        unseen_words.fill_embeddings(EMBEDDINGS, VECTORS, TOKENS, {"dress"})


def text_encoder(word_table=True):
    encoder = TextEncoder(
        len(TOKENS), embedding_dim=3, joint_dim=4, pretrained_dim=2,
        embeddings_initializer="uniform", word_table=word_table,
    )
    encoder.build((1, len(TOKENS)))
    encoder.embedding.embeddings.assign(VECTORS.astype("float32"))
    rng = np.random.default_rng(0)
    encoder.projection.kernel.assign(rng.normal(size=(2, 3)).astype("float32"))
    encoder.projection.bias.assign(rng.normal(size=3).astype("float32"))
    return encoder


def embeddings_of(encoder):
    return np.asarray(encoder.embed(np.arange(len(TOKENS))[None]))[0]


def test_the_encoder_reads_unseen_words_as_their_filled_rows():
    encoder = text_encoder()
    before = embeddings_of(encoder)
    projection = encoder.projection.get_weights()

    read_as, changed = unseen_words.fill_unseen_words(encoder, TOKENS, SEEN, use_colours=False)

    after = embeddings_of(encoder)
    assert read_as == {"crimson": "blue", "zzqxv": "red"}
    assert changed
    _, expected, _ = unseen_words.fill_embeddings(before, VECTORS, TOKENS, SEEN)
    np.testing.assert_allclose(after[4:], expected, atol=1e-5)
    np.testing.assert_array_equal(after[:4], before[:4])  # seen and special rows kept
    for kept, weights in zip(encoder.projection.get_weights(), projection):
        np.testing.assert_array_equal(kept, weights)
    np.testing.assert_array_equal(np.asarray(encoder.embedding.embeddings), VECTORS.astype("float32"))
    # Filling again gives the same rows, and does not write the table.
    table = np.asarray(encoder.table.embeddings).copy()
    _, changed = unseen_words.fill_unseen_words(encoder, TOKENS, SEEN, use_colours=False)
    assert not changed
    np.testing.assert_array_equal(np.asarray(encoder.table.embeddings), table)
    np.testing.assert_allclose(embeddings_of(encoder), after, atol=1e-6)


def test_filling_needs_a_word_table_and_the_encoders_vocabulary():
    with pytest.raises(ValueError, match="needs embedding_mode='table_and_projected'"):
        unseen_words.fill_unseen_words(text_encoder(word_table=False), TOKENS, SEEN)
    with pytest.raises(ValueError, match="5 tokens for a text encoder of 6"):
        unseen_words.fill_unseen_words(text_encoder(), TOKENS[:5], SEEN)


def test_unseen_words_are_filled_the_same_in_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    tokens = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(40)]
    embeddings, vectors = rng.normal(size=(42, 3)), rng.normal(size=(42, 5))
    seen = {f"w{i}" for i in range(0, 40, 4)}
    whole = unseen_words.fill_embeddings(embeddings, vectors, tokens, seen, neighbours=3)
    monkeypatch.setattr(unseen_words, "CHUNK", 7)
    chunked = unseen_words.fill_embeddings(embeddings, vectors, tokens, seen, neighbours=3)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_allclose(whole[1], chunked[1], rtol=1e-12)
    np.testing.assert_array_equal(whole[2], chunked[2])
    assert len(whole[0]) == 30


class _Reader:
    """The part of `FashionGenReader` the filling hook reads."""

    has_attributes = True

    def __init__(self, captions, colour_ids):
        self._captions, self._colour_ids = captions, colour_ids

    def captions(self):
        return iter(self._captions)

    def attribute_ids(self, name):
        assert name == "colour_id"
        return np.asarray(self._colour_ids)


def test_the_training_hook_reads_colour_names_only_as_words_of_one_colour(tmp_path):
    tokens = ["[PAD]", "[UNK]", "a", "red", "navy", "sky", "blue", "violet"]
    encoder = TextEncoder(
        len(tokens), embedding_dim=3, joint_dim=4, pretrained_dim=2,
        embeddings_initializer="uniform", word_table=True,
    )
    encoder.build((1, len(tokens)))
    context = SimpleNamespace(
        config=SimpleNamespace(model=SimpleNamespace(unseen_words="vectors_and_colours")),
        train_reader=_Reader(["a red top", "a navy blue top", "a sky blue top"], [0, 1, 2]),
        tokenizer=SimpleNamespace(tokens=tokens),
        workdir=str(tmp_path),
    )
    names = colour_names.read_colour_names()
    distances = {w: np.linalg.norm(names[w] - names["violet"]) for w in tokens[3:7]}
    assert min(distances, key=distances.get) == "blue"  # the table's nearest, though "blue" names two colours here

    train_lib.unseen_words_hook(context, encoder, "damsm", log_fn=lambda message: None)()

    read_as = unseen_words.read_as(str(tmp_path))
    assert read_as["violet"] in ("navy", "sky")


def test_the_training_hook_reads_garment_words_by_their_senses(tmp_path):
    tokens = ["[PAD]", "[UNK]", "a", "red", "black", "jacket", "trousers", "blazer", "ebony"]
    encoder = TextEncoder(
        len(tokens), embedding_dim=3, joint_dim=4, pretrained_dim=2,
        embeddings_initializer="uniform", word_table=True,
    )
    encoder.build((1, len(tokens)))

    def hook_read_as(mode):
        workdir = tmp_path / mode
        workdir.mkdir()
        context = SimpleNamespace(
            config=SimpleNamespace(model=SimpleNamespace(unseen_words=mode)),
            train_reader=_Reader(["a red jacket", "a black trousers"], [0, 1]),
            tokenizer=SimpleNamespace(tokens=tokens),
            workdir=str(workdir),
        )
        train_lib.unseen_words_hook(context, encoder, "damsm", log_fn=lambda message: None)()
        return unseen_words.read_as(str(workdir))

    assert hook_read_as("vectors_colours_and_senses") == {"blazer": "jacket", "ebony": "black"}


class _ImageCaptionReader(_Reader):
    """`_Reader` with the images `image_colours` reads."""

    block_size = 256

    def __init__(self, captions, colour_ids, rgb):
        super().__init__(captions, colour_ids)
        self.valid_rows = np.arange(len(captions))
        self._images = np.stack([_coloured(rgb[c]) for c in colour_ids])

    def read_rows(self, rows):
        return {"image": self._images[rows], "colour_id": np.asarray(self._colour_ids)[rows]}


def test_the_training_hook_compares_colour_names_with_the_training_images(tmp_path):
    tokens = ["[PAD]", "[UNK]", "a", "navy", "coffee", "top", "khaki"]
    encoder = TextEncoder(
        len(tokens), embedding_dim=3, joint_dim=4, pretrained_dim=2,
        embeddings_initializer="uniform", word_table=True,
    )
    encoder.build((1, len(tokens)))
    names = colour_names.read_colour_names()
    assert np.linalg.norm(names["khaki"] - names["coffee"]) < np.linalg.norm(
        names["khaki"] - names["navy"]
    )
    # Here the captions' "navy" names olive products: khaki's colour is theirs.
    reader = _ImageCaptionReader(
        ["a navy top", "a coffee top"], [0, 1], rgb=((120, 120, 30), (120, 70, 30))
    )
    messages = []

    def hook_read_as(mode):
        workdir = tmp_path / mode
        workdir.mkdir()
        context = SimpleNamespace(
            config=SimpleNamespace(model=SimpleNamespace(unseen_words=mode)),
            train_reader=reader, tokenizer=SimpleNamespace(tokens=tokens), workdir=str(workdir),
        )
        train_lib.unseen_words_hook(context, encoder, "damsm", log_fn=messages.append)()
        return unseen_words.read_as(str(workdir))

    assert hook_read_as("vectors_colours_and_senses")["khaki"] == "coffee"
    assert hook_read_as("vectors_colours_senses_and_images")["khaki"] == "navy"
    assert any("training images of 2 training words" in m for m in messages)
