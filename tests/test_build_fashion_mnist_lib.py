"""Tests of FashionMnistBuilder on tiny fake IDX files (and the Debian files when present)."""

import filecmp
import gzip
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from data_fixtures import write_idx
from fashion_t2i.config.data_config import DataConfig
from fashion_t2i.data import attributes, build_fashion_mnist_lib, schema
from fashion_t2i.data.attributes import (
    CATEGORY_NAMES,
    CLASS_NAMES,
    COLOUR_NAMES,
    COLOUR_RGB,
    PATTERN_NAMES,
)
from fashion_t2i.data.build_fashion_mnist_lib import FashionMnistBuilder

REPO = pathlib.Path(__file__).resolve().parents[1]
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
NUM_TRAIN = 300
NUM_TEST = 30
# Rows and columns of the fake garment's fully bright (255) core in the 28x28 source.
CORE = slice(8, 20)

# Written out here, not taken from the module, so a caption that drops a word fails.
# Matched as whole words: "checkered" must not count as "red".
COLOUR_WORDS = {
    "red": ("red", "scarlet", "cherry"),
    "navy blue": ("navy blue", "navy", "dark blue"),
    "sky blue": ("sky blue", "light blue", "baby blue"),
    "green": ("green", "jade", "kelly green"),
    "olive": ("olive", "olive green", "army green"),
    "yellow": ("yellow", "lemon", "sunflower"),
    "orange": ("orange", "tangerine", "apricot"),
    "pink": ("pink", "blush", "hot pink"),
    "purple": ("purple", "plum", "grape"),
    "brown": ("brown", "chocolate", "coffee"),
    "grey": ("grey", "gray", "ash"),
    "black": ("black", "jet black", "coal black"),
    "teal": ("teal", "petrol", "dark cyan"),
}
CLASS_WORDS = {
    "T-shirt/top": ("t-shirt", "tee", "top"),
    "Trouser": ("trousers", "pants", "slacks"),
    "Pullover": ("pullover", "sweater", "jumper"),
    "Dress": ("dress", "frock"),
    "Coat": ("coat", "jacket", "parka"),
    "Sandal": ("sandal", "sandals", "strappy sandal", "strappy sandals"),
    "Shirt": ("shirt", "blouse", "button-down"),
    "Sneaker": ("sneaker", "sneakers", "trainer", "trainers", "kicks"),
    "Bag": ("bag", "handbag", "tote"),
    "Ankle boot": ("ankle boot", "ankle boots", "boot", "boots", "chelsea boot", "chelsea boots"),
}
HELD_OUT_COLOURS = {
    "red": "crimson",
    "navy blue": "indigo",
    "sky blue": "azure",
    "green": "emerald",
    "olive": "khaki",
    "yellow": "mustard",
    "orange": "amber",
    "pink": "magenta",
    "purple": "violet",
    "brown": "chestnut",
    "grey": "charcoal",
    "black": "ebony",
    "teal": "turquoise",
}
HELD_OUT_CLASSES = {
    "Trouser": "jeans",
    "Pullover": "cardigan",
    "Dress": "gown",
    "Coat": "blazer",
    "Sandal": "slippers",
    "Shirt": "tunic",
    "Bag": "purse",
}
PLURAL_NOUNS = (
    "trousers", "pants", "slacks", "kicks", "slippers", "sandals", "sneakers", "trainers",
    "boots", "jeans",
)
PATTERN_WORDS = {
    "solid": ("plain", "solid", "no pattern"),
    "striped": ("striped", "stripes"),
    "dotted": ("dotted", "dots", "polka-dot", "spotted"),
    "checked": ("checked", "checkered", "checks", "check pattern"),
}


def has_word(text, phrase):
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def named(text, words):
    """The keys of `words` ({key: phrases}) that `text` names, longest phrases first.

    "olive green" names olive, not green too; "t-shirt" names no shirt.
    """
    text = text.lower()
    phrases = sorted(((p, key) for key, ps in words.items() for p in ps), key=lambda x: -len(x[0]))
    found = set()
    for phrase, key in phrases:
        pattern = rf"\b{re.escape(phrase)}\b"
        if re.search(pattern, text):
            found.add(key)
            text = re.sub(pattern, "#", text)
    return found


def first_words(text, count):
    """`text` up to the end of its `count`-th word (words split on non-alphanumerics)."""
    ends = [m.end() for m in re.finditer(r"[A-Za-z0-9]+", text)]
    return text[: ends[min(count, len(ends)) - 1]]


def sentences(caption):
    return [s.strip() for s in caption.split(". ")]


def fake_images(num, rng):
    """White-on-black garments: textured block with a fully bright core, black around it."""
    images = np.zeros((num, 28, 28), np.uint8)
    images[:, 4:24, 6:22] = rng.integers(150, 256, size=(num, 20, 16))
    images[:, CORE, CORE] = 255
    return images


@pytest.fixture
def source_dir(tmp_path):
    rng = np.random.default_rng(123)
    directory = tmp_path / "source"
    directory.mkdir()
    for prefix, num in (("train", NUM_TRAIN), ("t10k", NUM_TEST)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", fake_images(num, rng))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(num) % 10)
    return directory


def build(out_dir, source_dir, **kwargs):
    kwargs.setdefault("size", 32)
    builder = FashionMnistBuilder(str(out_dir), source_dir=str(source_dir), **kwargs)
    return builder, builder.build()


def read_all(path):
    f, _ = schema.open_checked(path)
    with f:
        return {name: f[name][()] for name in f}


def test_name_lists():
    assert len(CLASS_NAMES) == len(CATEGORY_NAMES) == 10
    assert len(set(CATEGORY_NAMES)) == 10
    assert len(COLOUR_NAMES) == len(COLOUR_RGB) >= 12
    assert len(set(COLOUR_NAMES)) == len(COLOUR_NAMES)
    assert len(PATTERN_NAMES) >= 3
    # Every colour must stand out from the white background.
    distance_to_white = np.linalg.norm(255 - np.array(COLOUR_RGB), axis=1)
    assert distance_to_white.min() > 100


def test_schema_shapes_dtypes_and_ids(tmp_path, source_dir):
    builder, info = build(tmp_path / "out", source_dir)
    assert info["counts"] == {"train": NUM_TRAIN, "validation": NUM_TEST}
    for path, num, first_id in (
        (builder.train_path, NUM_TRAIN, 0),
        (builder.validation_path, NUM_TEST, build_fashion_mnist_lib.VALIDATION_ID_OFFSET),
    ):
        f, checked_num = schema.open_checked(path)
        with f:
            assert checked_num == num
            assert f[schema.IMAGE].shape == (num, 32, 32, 3)
            assert f[schema.IMAGE].dtype == np.uint8
            for name in schema.TEXT_DATASETS:
                assert f[name].shape == (num, 1)
            for name in schema.ATTRIBUTES + (schema.HELD_OUT,):
                assert f[name].shape == (num,)
                assert f[name].dtype == np.int32
            np.testing.assert_array_equal(f["class_id"][()], np.arange(num) % 10)
            np.testing.assert_array_equal(
                f[schema.PRODUCT_ID][:, 0], np.arange(first_id, first_id + num)
            )
            assert f["colour_id"][()].min() >= 0
            assert f["colour_id"][()].max() < len(COLOUR_NAMES)
            assert f["pattern_id"][()].max() < len(PATTERN_NAMES)
            categories = [c.decode("latin-1") for c in f[schema.CATEGORY][:, 0]]
            assert categories == [CATEGORY_NAMES[k] for k in f["class_id"][()]]
    with open(builder.info_path, encoding="utf-8") as f:
        stored = json.load(f)
    assert stored["counts"] == info["counts"]
    assert stored["parameters"]["colour_names"] == list(COLOUR_NAMES)
    assert stored["parameters"]["pattern_names"] == list(PATTERN_NAMES)
    assert stored["parameters"]["class_names"] == list(CLASS_NAMES)
    assert stored["parameters"]["seed"] == 0
    assert stored["parameters"]["size"] == 32


def test_white_background_and_garment_colour(tmp_path, source_dir):
    builder, _ = build(tmp_path / "out", source_dir)
    data = read_all(builder.train_path)
    images = data[schema.IMAGE].astype(np.int32)
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1], :]
    assert corners.min() > 240
    # The fake core (source rows/cols 8..19) covers output pixels 10..21 at 32 px.
    core = images[:, 11:21, 11:21, :]
    luminance = core @ np.array([0.299, 0.587, 0.114])
    solid = data["pattern_id"] == PATTERN_NAMES.index("solid")
    assert solid.sum() > 10 and (~solid).sum() > 10
    for i in np.flatnonzero(solid):
        expected = np.array(COLOUR_RGB[data["colour_id"][i]])
        assert np.abs(core[i] - expected).max() <= 2, (i, COLOUR_NAMES[data["colour_id"][i]])
    assert luminance[solid].std(axis=(1, 2)).max() < 1
    # A pattern mixes the colour itself with a clearly lighter tint.
    for i in np.flatnonzero(~solid):
        expected = np.array(COLOUR_RGB[data["colour_id"][i]])
        assert np.abs(core[i] - expected).max(axis=-1).min() <= 2
        assert luminance[i].max() - luminance[i].min() > 30


def test_patterns_survive_downsampling(tmp_path, source_dir):
    builder, _ = build(tmp_path / "out", source_dir, size=64)
    data = read_all(builder.train_path)
    for i in range(60):
        image = Image.fromarray(data[schema.IMAGE][i])
        small = np.asarray(image.resize((32, 32), Image.Resampling.BILINEAR))
        core = small[11:21, 11:21].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        pattern = PATTERN_NAMES[data["pattern_id"][i]]
        if pattern == "solid":
            assert core.std() < 2, i
        else:
            assert core.std() > 10, (i, pattern)
        if pattern == "striped":
            # Horizontal bands: rows differ, columns barely.
            assert core.mean(axis=1).std() > 5 * core.mean(axis=0).std(), i


def test_captions_state_colour_class_and_pattern(tmp_path, source_dir):
    builder, _ = build(tmp_path / "out", source_dir)
    data = read_all(builder.train_path)
    captions = [c.decode("latin-1") for c in data[schema.DESCRIPTION][:, 0]]
    names = [n.decode("latin-1") for n in data[schema.NAME][:, 0]]
    for i, caption in enumerate(captions):
        text = caption.lower()
        colour = COLOUR_NAMES[data["colour_id"][i]]
        pattern = PATTERN_NAMES[data["pattern_id"][i]]
        class_name = CLASS_NAMES[data["class_id"][i]]
        assert named(text, COLOUR_WORDS) == {colour}, caption
        assert named(text, CLASS_WORDS) == {class_name}, caption
        matched = [
            p for p, words in PATTERN_WORDS.items() if any(has_word(text, w) for w in words)
        ]
        # Solid products are also described without any pattern word.
        assert matched == [pattern] or (pattern == "solid" and matched == []), (caption, pattern)
        assert attributes.names_a_pattern(caption) == bool(matched), caption
        assert caption.isascii(), caption
        assert colour in names[i].lower() and pattern in names[i].lower(), names[i]
    # Templates, sentence case and punctuation vary.
    assert len({c.lower().rstrip(".").replace(",", "").split()[0] for c in captions}) > 10
    assert any(c[0].isupper() for c in captions) and any(c[0].islower() for c in captions)
    assert any(c.endswith(".") for c in captions) and not all(c.endswith(".") for c in captions)
    assert len(set(captions)) > NUM_TRAIN // 2
    solid = [c for c, p in zip(captions, data["pattern_id"]) if PATTERN_NAMES[p] == "solid"]
    unnamed = sum(not attributes.names_a_pattern(c) for c in solid)
    assert 0.3 * len(solid) < unnamed < 0.7 * len(solid)
    patterned = [c for c, p in zip(captions, data["pattern_id"]) if PATTERN_NAMES[p] != "solid"]
    assert all(attributes.names_a_pattern(c) for c in patterned)


NUM_DRAWN = 5000


@pytest.fixture(scope="module")
def drawn():
    """5000 captions drawn straight from `_captions`, the first 30 % held out."""
    rng = np.random.default_rng(42)
    class_ids = rng.integers(len(CLASS_NAMES), size=NUM_DRAWN)
    colour_ids = rng.integers(len(COLOUR_NAMES), size=NUM_DRAWN)
    pattern_ids = rng.integers(len(PATTERN_NAMES), size=NUM_DRAWN)
    held_out = np.arange(NUM_DRAWN) < 0.3 * NUM_DRAWN
    captions = build_fashion_mnist_lib._captions(
        class_ids, colour_ids, pattern_ids, np.random.default_rng(1), held_out
    )
    training = build_fashion_mnist_lib._captions(
        class_ids, colour_ids, pattern_ids, np.random.default_rng(2)
    )
    return class_ids, colour_ids, pattern_ids, held_out, list(captions), list(training)


def test_held_out_word_list():
    assert attributes.HELD_OUT_COLOUR_WORDS == tuple(HELD_OUT_COLOURS[c] for c in COLOUR_NAMES)
    assert attributes.HELD_OUT_CLASS_WORDS == tuple(HELD_OUT_CLASSES.get(k) for k in CLASS_NAMES)
    assert attributes.HELD_OUT_WORDS == set(HELD_OUT_COLOURS.values()) | set(
        HELD_OUT_CLASSES.values()
    )
    # The first synonym stays the canonical word (product names, `plain_caption`).
    assert [words[0] for words in attributes.COLOUR_WORDS] == list(COLOUR_NAMES)
    assert [words[0] for words in attributes.CLASS_WORDS] == [
        "t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
        "ankle boot",
    ]


def test_training_captions_never_use_held_out_words(drawn):
    *_, training = drawn
    for caption in training:
        assert attributes.HELD_OUT_WORDS.isdisjoint(attributes.split_words(caption)), caption
    # Every training synonym is used.
    used = {phrase for c in training for words in COLOUR_WORDS.values() for phrase in words
            if has_word(c.lower(), phrase)}
    assert used == {phrase for words in COLOUR_WORDS.values() for phrase in words}


def test_held_out_captions_use_the_held_out_words(drawn):
    class_ids, colour_ids, _, held_out, captions, _ = drawn
    for i, caption in enumerate(captions):
        words = attributes.split_words(caption)
        if not held_out[i]:
            assert attributes.HELD_OUT_WORDS.isdisjoint(words), caption
            continue
        colour, class_name = COLOUR_NAMES[colour_ids[i]], CLASS_NAMES[class_ids[i]]
        assert HELD_OUT_COLOURS[colour] in words, caption
        assert named(caption, COLOUR_WORDS) == set(), caption
        if class_name in HELD_OUT_CLASSES:
            assert HELD_OUT_CLASSES[class_name] in words, caption
            assert named(caption, CLASS_WORDS) == set(), caption
        else:
            assert named(caption, CLASS_WORDS) == {class_name}, caption


def test_built_files_mark_held_out_rows(tmp_path, source_dir):
    builder, _ = build(tmp_path / "out", source_dir)
    train = read_all(builder.train_path)
    assert not train[schema.HELD_OUT].any()
    for caption in train[schema.DESCRIPTION][:, 0]:
        words = attributes.split_words(caption.decode("latin-1"))
        assert attributes.HELD_OUT_WORDS.isdisjoint(words), caption
    validation = read_all(builder.validation_path)
    held_out = validation[schema.HELD_OUT]
    assert set(np.unique(held_out)) == {0, 1}
    assert held_out.sum() == round(build_fashion_mnist_lib.HELD_OUT_FRACTION * NUM_TEST) == 9
    for i, caption in enumerate(validation[schema.DESCRIPTION][:, 0]):
        words = attributes.split_words(caption.decode("latin-1"))
        colour = COLOUR_NAMES[validation["colour_id"][i]]
        assert (HELD_OUT_COLOURS[colour] in words) == bool(held_out[i]), caption
        assert attributes.HELD_OUT_WORDS.isdisjoint(words) != bool(held_out[i]), caption


def test_short_and_shop_style_captions(drawn):
    class_ids, colour_ids, pattern_ids, held_out, captions, training = drawn
    shop = [len(sentences(c)) > 1 for c in captions + training]
    assert 0.4 < np.mean(shop) < 0.6
    detail_first = 0
    details = set()
    for i, caption in enumerate(captions + training):
        row = i % NUM_DRAWN
        colour, class_name = COLOUR_NAMES[colour_ids[row]], CLASS_NAMES[class_ids[row]]
        colours, classes = dict(COLOUR_WORDS), dict(CLASS_WORDS)
        if i < NUM_DRAWN and held_out[row]:
            colours[colour] = (HELD_OUT_COLOURS[colour],)
            if class_name in HELD_OUT_CLASSES:
                classes[class_name] = (HELD_OUT_CLASSES[class_name],)
        # The tokenizer keeps the first 12 words: they must name colour and class.
        start = first_words(caption, 12)
        assert named(start, colours) == {colour}, caption
        assert named(start, classes) == {class_name}, caption
        assert caption.isascii(), caption
        if len(sentences(caption)) == 1:
            assert len(attributes.split_words(caption)) <= 12, caption
            continue
        assert caption.endswith(".") and caption[0].isupper(), caption
        main = [s for s in sentences(caption) if named(s, classes)]
        assert len(main) == 1, caption
        rest = [s for s in sentences(caption) if s != main[0]]
        assert 1 <= len(rest) <= 3, caption
        detail_first += sentences(caption)[0] != main[0]
        details.update(s.rstrip(".") for s in rest)
        pattern = PATTERN_NAMES[pattern_ids[row]]
        assert attributes.names_a_pattern(main[0]) or pattern == "solid", caption
    assert 0.1 < detail_first / sum(shop) < 0.25
    assert len(details) > 15
    # Detail sentences say nothing the image shows.
    every_colour = {**COLOUR_WORDS, "held out": tuple(HELD_OUT_COLOURS.values())}
    every_class = {**CLASS_WORDS, "held out": tuple(HELD_OUT_CLASSES.values()),
                   "other": ("jersey", "top", "shirt", "boot")}
    for detail in details:
        assert named(detail, every_colour) == set(), detail
        assert named(detail, every_class) == set(), detail
        assert not attributes.names_a_pattern(detail), detail
        assert named(detail, PATTERN_WORDS) == set(), detail


def test_plural_nouns_agree(drawn):
    *_, captions, training = drawn
    plurals = "|".join(PLURAL_NOUNS)
    footwear = {"singular": 0, "plural": 0}
    for caption in captions + training:
        for sentence in sentences(caption.lower()):
            clause = sentence.split(",")[0]
            assert not re.search(rf"\b(a|an|this)\b[^.,]*\b({plurals})\b", sentence), caption
            assert not re.search(rf"\b({plurals})\b (is)\b", sentence), caption
            assert not re.search(r"\bthis\b.*\bare\b", clause), caption
            assert not re.search(r"\bthese\b.*\bis\b", clause), caption
            if re.search(r"\bthese\b", sentence):
                assert re.search(rf"\b({plurals})\b", sentence), caption
            assert not re.search(r"\ba [aeiou]|\ban [^aeiou]", sentence), caption
            assert not re.search(r"\b(trouser|pant|slack|kick|slipper)\b", sentence), caption
        if re.search(r"\b(sandal|sneaker|trainer|boot)s\b", caption.lower()):
            footwear["plural"] += 1
        elif re.search(r"\b(sandal|sneaker|trainer|boot)\b", caption.lower()):
            footwear["singular"] += 1
    assert 0.35 < footwear["plural"] / sum(footwear.values()) < 0.65, footwear


def test_captions_are_a_function_of_the_draws(drawn):
    class_ids, colour_ids, pattern_ids, held_out, captions, _ = drawn
    again = build_fashion_mnist_lib._captions(
        class_ids, colour_ids, pattern_ids, np.random.default_rng(1), held_out
    )
    assert list(again) == captions


def test_format_change_rebuilds(tmp_path, source_dir, monkeypatch):
    builder, _ = build(tmp_path / "out", source_dir)
    assert builder.is_built()
    monkeypatch.setattr(build_fashion_mnist_lib, "_FORMAT_VERSION", 2)
    assert not builder.is_built()


def test_same_seed_same_files_other_seed_differs(tmp_path, source_dir):
    first, _ = build(tmp_path / "a", source_dir, seed=7)
    again, _ = build(tmp_path / "b", source_dir, seed=7)
    rechunked, _ = build(tmp_path / "c", source_dir, seed=7, chunk_size=13)
    other, _ = build(tmp_path / "d", source_dir, seed=8)
    for a, b in (
        (first.train_path, again.train_path),
        (first.validation_path, again.validation_path),
    ):
        assert filecmp.cmp(a, b, shallow=False)
    # Another chunk size lays the file out differently but stores the same values.
    for a, b in (
        (first.train_path, rechunked.train_path),
        (first.validation_path, rechunked.validation_path),
    ):
        data_a, data_b = read_all(a), read_all(b)
        for name in data_a:
            np.testing.assert_array_equal(data_a[name], data_b[name], err_msg=name)
    data_a, data_c = read_all(first.train_path), read_all(other.train_path)
    assert not np.array_equal(data_a["colour_id"], data_c["colour_id"])
    assert not np.array_equal(data_a[schema.IMAGE], data_c[schema.IMAGE])
    # The two splits draw from different streams.
    validation = read_all(first.validation_path)
    assert not np.array_equal(validation["colour_id"], data_a["colour_id"][:NUM_TEST])


def test_skips_rebuild_when_up_to_date(tmp_path, source_dir, capsys):
    out = tmp_path / "out"
    builder, _ = build(out, source_dir)
    stamps = {p: os.stat(p).st_mtime_ns for p in (builder.train_path, builder.validation_path)}
    capsys.readouterr()
    _, info = build(out, source_dir)
    assert "up to date" in capsys.readouterr().out
    assert info["counts"] == {"train": NUM_TRAIN, "validation": NUM_TEST}
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps
    # Another parameter rebuilds.
    build(out, source_dir, seed=1)
    assert "up to date" not in capsys.readouterr().out
    assert os.stat(builder.train_path).st_mtime_ns != stamps[builder.train_path]
    # So does a missing file.
    os.remove(builder.validation_path)
    assert not builder.is_built()
    build(out, source_dir, seed=1)
    assert "up to date" not in capsys.readouterr().out
    assert FashionMnistBuilder(str(out), size=32, seed=1).is_built()


def test_interrupted_build_leaves_no_complete_looking_file(tmp_path, source_dir, monkeypatch):
    out = tmp_path / "out"
    calls = []

    def colourise_then_fail(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("interrupted in chunk 2")
        return original(*args)

    original = build_fashion_mnist_lib._colourise
    monkeypatch.setattr(build_fashion_mnist_lib, "_colourise", colourise_then_fail)
    builder = FashionMnistBuilder(str(out), size=32, source_dir=str(source_dir), chunk_size=50)
    with pytest.raises(KeyboardInterrupt, match="interrupted in chunk 2"):
        builder.build()
    assert os.listdir(out) == []
    assert not builder.is_built()


def test_falls_back_to_keras_then_explains(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_dir"

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(build_fashion_mnist_lib, "_load_keras", offline)
    builder = FashionMnistBuilder(str(tmp_path / "out"), size=16, source_dir=str(missing))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        builder.build()

    rng = np.random.default_rng(0)
    arrays = (
        (fake_images(12, rng), np.arange(12) % 10),
        (fake_images(5, rng), np.arange(5) % 10),
    )
    monkeypatch.setattr(build_fashion_mnist_lib, "_load_keras", lambda: arrays)
    info = FashionMnistBuilder(
        str(tmp_path / "out"), size=16, train_limit=10, source_dir=str(missing)
    ).build()
    assert info["counts"] == {"train": 10, "validation": 5}
    assert info["source"] == "keras.datasets.fashion_mnist"


def test_bad_source_files(tmp_path, source_dir):
    os.remove(source_dir / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        build(tmp_path / "out", source_dir)
    (source_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a valid gzipped IDX"):
        build(tmp_path / "out", source_dir)
    write_idx(source_dir / "t10k-labels-idx1-ubyte.gz", np.arange(7) % 10)
    with pytest.raises(ValueError, match="not matching image and label files"):
        build(tmp_path / "out", source_dir)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 4}, "size must be >= 8"),
        ({"train_limit": -1}, "train_limit must be >= 0"),
        ({"validation_limit": -5}, "validation_limit must be >= 0"),
        ({"chunk_size": 0}, "chunk_size must be >= 1"),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        FashionMnistBuilder(str(tmp_path), **kwargs)


def test_from_config():
    config = DataConfig(
        fashion_mnist_dir="somewhere",
        fashion_mnist_size=48,
        fashion_mnist_train_limit=100,
        fashion_mnist_validation_limit=10,
        seed=3,
    )
    builder = FashionMnistBuilder.from_config(config, source_dir="src")
    assert (builder.out_dir, builder.size, builder.seed, builder.source_dir) == (
        "somewhere",
        48,
        3,
        "src",
    )
    assert (builder.train_limit, builder.validation_limit) == (100, 10)


@pytest.mark.slow
def test_command_line(tmp_path, source_dir):
    command = [
        sys.executable,
        "-m",
        "fashion_t2i.data.build_fashion_mnist",
        f"--out_dir={tmp_path / 'out'}",
        f"--source_dir={source_dir}",
        "--size=16",
        "--train_limit=20",
        "--seed=5",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "train 20/20 images" in result.stdout
    builder = FashionMnistBuilder(
        str(tmp_path / "out"), size=16, train_limit=20, seed=5, source_dir=str(source_dir)
    )
    assert builder.is_built()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert "up to date" in result.stdout, result.stderr


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist(tmp_path):
    builder, info = build(
        tmp_path / "out", DEBIAN_DIR, train_limit=50, validation_limit=20, seed=0
    )
    assert info["counts"] == {"train": 50, "validation": 20}
    with gzip.open(os.path.join(DEBIAN_DIR, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(8 + 50), np.uint8)[8:]
    data = read_all(builder.train_path)
    np.testing.assert_array_equal(data["class_id"], labels)
    images = data[schema.IMAGE]
    assert images.shape == (50, 32, 32, 3)
    assert images[:, 0, 0, :].min() > 240
    # Real garments cover a fair part of the frame and are coloured.
    coloured = (images.min(axis=-1) < 200).mean(axis=(1, 2))
    assert coloured.min() > 0.05
    validation = read_all(builder.validation_path)
    assert validation[schema.PRODUCT_ID][0, 0] == build_fashion_mnist_lib.VALIDATION_ID_OFFSET
