"""Tests of `FashionGenReader` and the HDF5 schema checks, on tiny tmp_path files."""

import collections

import h5py
import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.data import schema
from fashion_t2i.data.fashion_gen_reader import FashionGenReader

SIZE = 8
ID_OFFSET = 1000


def _image(row):
    """A distinct image per row: pixel values encode the row."""
    base = np.arange(SIZE * SIZE * 3, dtype=np.int64).reshape(SIZE, SIZE, 3)
    return ((base + 7 * row) % 256).astype(np.uint8)


def write_file(path, captions, encoding="latin-1", attributes=True):
    """Writes a schema file with one row per caption (str, or raw bytes)."""
    num = len(captions)
    f = schema.create(str(path), num, SIZE, attributes=attributes)
    with f:
        f[schema.IMAGE][:] = np.stack([_image(i) for i in range(num)])
        raw = [c if isinstance(c, bytes) else c.encode(encoding) for c in captions]
        f[schema.DESCRIPTION][:, 0] = raw
        f[schema.NAME][:, 0] = [b"name %d" % i for i in range(num)]
        f[schema.CATEGORY][:, 0] = [b"DRESSES"] * num
        f[schema.PRODUCT_ID][:, 0] = ID_OFFSET + np.arange(num)
        if attributes:
            f["class_id"][:] = np.arange(num) % 10
            f["colour_id"][:] = np.arange(num) % 7
            f["pattern_id"][:] = np.arange(num) % 3
            f[schema.HELD_OUT][:] = np.arange(num) % 2
    return str(path)


def captions(num):
    return [f"a red dress number {i}" for i in range(num)]


@pytest.fixture
def small_file(tmp_path):
    return write_file(tmp_path / "small.h5", captions(10))


def _ids(reader, seed):
    return [int(i) for block in reader.blocks(seed) for i in block["product_id"]]


# --------------------------------------------------------------------------- examples


def test_dataset_element_shapes_dtypes_values(small_file):
    reader = FashionGenReader(small_file, block_size=4)
    assert reader.num_rows == reader.num_examples == 10
    assert reader.skipped == 0
    assert reader.image_size == SIZE
    assert reader.has_attributes and reader.has_held_out
    ds = reader.dataset(shuffle=False)
    spec = ds.element_spec
    assert set(spec) == {
        "image", "caption", "product_id", "class_id", "colour_id", "pattern_id", "held_out_words"
    }
    assert spec["image"].shape == (SIZE, SIZE, 3) and spec["image"].dtype == tf.uint8
    assert spec["caption"].shape == () and spec["caption"].dtype == tf.string
    assert spec["product_id"].dtype == tf.int64
    assert spec["class_id"].dtype == spec["held_out_words"].dtype == tf.int32
    examples = list(ds.as_numpy_iterator())
    assert len(examples) == 10
    for row, example in enumerate(examples):
        assert example["image"].dtype == np.uint8
        assert example["image"].shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(example["image"], _image(row))
        assert example["caption"] == f"a red dress number {row}".encode("utf-8")
        assert example["product_id"] == ID_OFFSET + row
        assert example["class_id"] == row % 10
        assert example["colour_id"] == row % 7
        assert example["pattern_id"] == row % 3
        assert example["held_out_words"] == row % 2
    pixels = np.stack([e["image"] for e in examples])
    assert pixels.min() >= 0 and pixels.max() <= 255 and pixels.max() > 200


def test_read_rows_shapes_dtypes_values(small_file):
    reader = FashionGenReader(small_file, block_size=4)
    out = reader.read_rows([1, 3, 8])
    assert out["image"].shape == (3, SIZE, SIZE, 3)
    assert out["image"].dtype == np.uint8
    for i, row in enumerate([1, 3, 8]):
        np.testing.assert_array_equal(out["image"][i], _image(row))
    assert out["caption"].shape == (3,)
    assert list(out["caption"]) == [b"a red dress number 1", b"a red dress number 3",
                                    b"a red dress number 8"]
    assert out["product_id"].dtype == np.int64
    np.testing.assert_array_equal(out["product_id"], [1001, 1003, 1008])
    assert out["class_id"].dtype == np.int32
    np.testing.assert_array_equal(out["colour_id"], [1, 3, 1])
    assert out["held_out_words"].dtype == np.int32
    np.testing.assert_array_equal(out["held_out_words"], [1, 1, 0])
    block = next(reader.blocks())
    np.testing.assert_array_equal(block["held_out_words"], [0, 1, 0, 1])


def test_attribute_ids_follow_the_usable_captions(tmp_path):
    rows = ["a red dress", "", "a blue top", "a green bag"]
    reader = FashionGenReader(write_file(tmp_path / "f.h5", rows), on_bad_caption="skip")
    assert list(reader.captions()) == ["a red dress", "a blue top", "a green bag"]
    np.testing.assert_array_equal(reader.attribute_ids("colour_id"), [0, 2, 3])
    np.testing.assert_array_equal(reader.attribute_ids("class_id"), [0, 2, 3])
    with pytest.raises(KeyError, match="no attribute column 'size_id'"):
        reader.attribute_ids("size_id")


def test_file_without_attributes_has_no_attribute_keys(tmp_path):
    path = write_file(tmp_path / "plain.h5", captions(3), attributes=False)
    reader = FashionGenReader(path)
    assert not reader.has_attributes and not reader.has_held_out
    with pytest.raises(KeyError, match="no attribute column 'colour_id'"):
        reader.attribute_ids("colour_id")
    assert set(reader.read_rows([0, 1])) == {"image", "caption", "product_id"}
    assert set(reader.dataset().element_spec) == {"image", "caption", "product_id"}


def test_file_with_attributes_but_no_held_out_column_reads_as_before(tmp_path):
    # Files of format 2 and earlier have the attribute ids but no `held_out_words`.
    path = write_file(tmp_path / "format2.h5", captions(4))
    with h5py.File(path, "a") as f:
        del f[schema.HELD_OUT]
    reader = FashionGenReader(path)
    assert reader.has_attributes and not reader.has_held_out
    keys = {"image", "caption", "product_id", "class_id", "colour_id", "pattern_id"}
    assert set(reader.read_rows([0, 3])) == keys
    assert set(reader.dataset().element_spec) == keys
    assert [int(e["class_id"]) for e in reader.dataset(shuffle=False).as_numpy_iterator()] == [
        0, 1, 2, 3
    ]


def test_latin1_accents_are_kept(tmp_path):
    text = "Robe en laine mérinos à col « V »"
    path = write_file(tmp_path / "fr.h5", [text, "Café crème"], encoding="latin-1")
    with h5py.File(path, "r") as f:  # stored as latin-1, as Fashion-Gen is
        assert f[schema.DESCRIPTION][0, 0] == text.encode("latin-1")
    reader = FashionGenReader(path, encoding="latin-1")
    assert list(reader.captions()) == [text, "Café crème"]
    assert reader.read_rows([0])["caption"][0] == text.encode("utf-8")
    through_tf = [e["caption"] for e in reader.dataset(shuffle=False).as_numpy_iterator()]
    assert through_tf == [text.encode("utf-8"), "Café crème".encode("utf-8")]
    assert through_tf[0].decode("utf-8") == text


def test_utf8_encoding_reads_utf8_captions(tmp_path):
    path = write_file(tmp_path / "u8.h5", ["Café crème", "Robe mérinos"], encoding="utf-8")
    reader = FashionGenReader(path, encoding="utf-8")
    assert list(reader.captions()) == ["Café crème", "Robe mérinos"]


def test_captions_are_stripped(tmp_path):
    path = write_file(tmp_path / "ws.h5", ["  a blue coat \n", "shoes"])
    assert list(FashionGenReader(path).captions()) == ["a blue coat", "shoes"]


# --------------------------------------------------------------------------- schema errors


def _write_raw(path, num=3, image=None, drop=(), text_shape=None, product_ids=None,
               attributes=None):
    """Writes a file with h5py directly, so each part can break the schema."""
    with h5py.File(path, "w") as f:
        if schema.IMAGE not in drop:
            f.create_dataset(
                schema.IMAGE,
                data=np.zeros((num, SIZE, SIZE, 3), np.uint8) if image is None else image,
            )
        for name in schema.TEXT_DATASETS:
            if name in drop:
                continue
            values = np.array([b"a red dress %d" % i for i in range(num)])
            shape = text_shape or (num, 1)
            f.create_dataset(name, data=np.resize(values, shape))
        if schema.PRODUCT_ID not in drop:
            ids = np.arange(num).reshape(num, 1) if product_ids is None else product_ids
            f.create_dataset(schema.PRODUCT_ID, data=ids)
        for name, values in (attributes or {}).items():
            f.create_dataset(name, data=values)
    return str(path)


BROKEN_FILES = {
    "missing_dataset": (dict(drop=(schema.NAME,)), r"missing dataset\(s\) \['input_name'\]"),
    "missing_image": (dict(drop=(schema.IMAGE,)), "input_image"),
    "image_rank_3": (dict(image=np.zeros((3, SIZE, SIZE), np.uint8)), r"\(N, H, W, 3\)"),
    "image_4_channels": (dict(image=np.zeros((3, SIZE, SIZE, 4), np.uint8)), r"\(N, H, W, 3\)"),
    "image_float32": (dict(image=np.zeros((3, SIZE, SIZE, 3), np.float32)), "must be uint8"),
    "no_rows": (dict(num=0, image=np.zeros((0, SIZE, SIZE, 3), np.uint8)), "no examples"),
    "text_wrong_shape": (dict(text_shape=(3, 2)), r"input_description must have shape \(3, 1\)"),
    "product_id_float": (
        dict(product_ids=np.arange(3, dtype=np.float32).reshape(3, 1)),
        "input_productID must hold integers or digit strings",
    ),
    "product_id_wrong_shape": (
        dict(product_ids=np.arange(6).reshape(3, 2)), r"input_productID must have shape",
    ),
    "attribute_wrong_shape": (
        dict(attributes={"class_id": np.zeros((3, 1), np.int32)}), r"class_id must have shape",
    ),
    "held_out_wrong_shape": (
        dict(attributes={schema.HELD_OUT: np.zeros(4, np.int32)}),
        r"held_out_words must have shape \(3,\), got \(4,\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_schema_errors_name_the_file_and_problem(tmp_path, case):
    kwargs, message = BROKEN_FILES[case]
    path = _write_raw(tmp_path / f"{case}.h5", **kwargs)
    with pytest.raises(schema.SchemaError, match=message) as info:
        FashionGenReader(path)
    assert path in str(info.value)


def test_missing_file_raises_file_not_found(tmp_path):
    path = str(tmp_path / "absent.h5")
    with pytest.raises(FileNotFoundError, match="Fashion-Gen HDF5 file not found") as info:
        FashionGenReader(path)
    assert path in str(info.value)


def test_text_file_is_not_hdf5(tmp_path):
    path = tmp_path / "captions.h5"
    path.write_text("this is not an HDF5 file\n")
    with pytest.raises(schema.SchemaError, match="not a readable HDF5 file") as info:
        FashionGenReader(str(path))
    assert str(path) in str(info.value)


def test_schema_error_is_a_value_error():
    assert issubclass(schema.SchemaError, ValueError)


def test_open_checked_closes_the_file_on_error(tmp_path):
    path = _write_raw(tmp_path / "bad.h5", image=np.zeros((3, SIZE, SIZE), np.uint8))
    with pytest.raises(schema.SchemaError, match=r"must have shape \(N, H, W, 3\)"):
        schema.open_checked(path)
    # Still closed: opening for writing would fail on Linux HDF5 locking otherwise.
    with h5py.File(path, "r+") as f:
        assert schema.IMAGE in f


def test_non_digit_product_id_is_rejected_at_construction(tmp_path):
    """A user-caused schema error must surface early, naming the file and row.

    Today it is raised only when the block is read, inside tf.data, as an
    InvalidArgumentError without the file path.
    """
    ids = np.array([[b"12"], [b"x3"], [b"4"]])
    path = _write_raw(tmp_path / "ids.h5", product_ids=ids)
    with pytest.raises(schema.SchemaError, match="x3") as info:
        FashionGenReader(path)
    assert path in str(info.value)
    assert "1" in str(info.value)  # the row


def test_non_square_images_are_rejected_early(tmp_path):
    """The reader needs square images (`image_size` is one side): a wide file
    is refused at construction, naming the file and the converter that pads
    to square, not later inside tf.data."""
    path = _write_raw(tmp_path / "wide.h5", image=np.zeros((3, SIZE, SIZE + 4, 3), np.uint8))
    with pytest.raises(schema.SchemaError, match=r"must hold square images .*convert_catalogue") as info:
        FashionGenReader(path)
    assert path in str(info.value)
    assert str((3, SIZE, SIZE + 4, 3)) in str(info.value)


# --------------------------------------------------------------------------- bad captions

BAD_CAPTIONS = {"empty": "", "whitespace": "  \t \n", "punctuation": "-- !!! ... ?"}


@pytest.mark.parametrize("kind", sorted(BAD_CAPTIONS))
def test_bad_caption_error_names_file_and_row(tmp_path, kind):
    texts = captions(6)
    texts[4] = BAD_CAPTIONS[kind]
    path = write_file(tmp_path / "bad.h5", texts)
    with pytest.raises(schema.SchemaError, match="row 4 ") as info:
        FashionGenReader(path, on_bad_caption="error", block_size=4)
    message = str(info.value)
    assert path in message
    assert "on_bad_caption='skip'" in message


@pytest.mark.parametrize("kind", sorted(BAD_CAPTIONS))
def test_bad_caption_skip_counts_and_drops(tmp_path, kind):
    texts = captions(6)
    texts[1] = texts[4] = BAD_CAPTIONS[kind]
    path = write_file(tmp_path / "bad.h5", texts)
    reader = FashionGenReader(path, on_bad_caption="skip", block_size=4)
    assert reader.skipped == 2
    assert reader.num_rows == 6
    assert reader.num_examples == 4
    np.testing.assert_array_equal(reader.valid_rows, [0, 2, 3, 5])
    assert list(reader.captions()) == [texts[i] for i in (0, 2, 3, 5)]
    ids = [e["product_id"] for e in reader.dataset(shuffle=False).as_numpy_iterator()]
    assert ids == [ID_OFFSET + i for i in (0, 2, 3, 5)]
    for block in reader.blocks(seed=3):
        assert not set(block["product_id"] - ID_OFFSET) & {1, 4}


def test_non_utf8_bytes_with_utf8_encoding(tmp_path):
    texts = captions(4)
    texts[2] = b"caf\xe9 au lait"  # latin-1 bytes, invalid UTF-8
    path = write_file(tmp_path / "mixed.h5", texts)
    with pytest.raises(schema.SchemaError, match="row 2 .*utf-8") as info:
        FashionGenReader(path, encoding="utf-8")
    assert path in str(info.value)
    reader = FashionGenReader(path, encoding="utf-8", on_bad_caption="skip")
    assert reader.skipped == 1
    assert list(reader.valid_rows) == [0, 1, 3]
    # The same bytes are valid latin-1.
    latin = FashionGenReader(path, encoding="latin-1")
    assert latin.skipped == 0
    assert list(latin.captions())[2] == "café au lait"


def test_all_captions_bad_with_skip_raises(tmp_path):
    path = write_file(tmp_path / "empty.h5", ["", " ", "?"])
    with pytest.raises(schema.SchemaError, match="no example has a usable caption") as info:
        FashionGenReader(path, on_bad_caption="skip")
    assert path in str(info.value)


# --------------------------------------------------------------------------- product ids


@pytest.mark.parametrize("layout", ["vlen_n1", "fixed_n1", "fixed_n"])
def test_digit_string_product_ids_are_parsed(tmp_path, layout):
    values = [b"307", b"0042", b" 9 "]
    path = str(tmp_path / f"{layout}.h5")
    if layout == "vlen_n1":
        _write_raw(path, drop=(schema.PRODUCT_ID,))
        with h5py.File(path, "a") as f:
            ids = f.create_dataset(
                schema.PRODUCT_ID, shape=(3, 1), dtype=h5py.special_dtype(vlen=bytes)
            )
            ids[:, 0] = values
    elif layout == "fixed_n1":
        _write_raw(path, product_ids=np.array([[v] for v in values]))
    else:
        _write_raw(path, product_ids=np.array(values))
    reader = FashionGenReader(path)
    np.testing.assert_array_equal(reader.read_rows([0, 1, 2])["product_id"], [307, 42, 9])
    got = [e["product_id"] for e in reader.dataset(shuffle=False).as_numpy_iterator()]
    assert got == [307, 42, 9]


def test_product_id_to_int():
    assert schema.product_id_to_int(np.array([b"12"])) == 12
    assert schema.product_id_to_int(np.int64(5)) == 5
    assert schema.product_id_to_int(np.array([7])) == 7
    with pytest.raises(schema.SchemaError, match="not an integer"):
        schema.product_id_to_int(b"12a")


# --------------------------------------------------------------------------- block order


@pytest.fixture
def skip_file(tmp_path):
    texts = captions(23)
    for row in (0, 5, 6, 22):
        texts[row] = ""
    return write_file(tmp_path / "blocks.h5", texts)


@pytest.mark.parametrize("seed", [None, 0, 1, (5, 2)])
def test_blocks_visit_every_valid_row_once(skip_file, seed):
    reader = FashionGenReader(skip_file, on_bad_caption="skip", block_size=4)
    assert reader.skipped == 4
    ids = _ids(reader, seed)
    counts = collections.Counter(ids)
    assert all(c == 1 for c in counts.values())
    expected = {ID_OFFSET + r for r in range(23) if r not in (0, 5, 6, 22)}
    assert set(counts) == expected
    for block in reader.blocks(seed):
        assert len(block["caption"]) <= 4
        assert len(block["image"]) == len(block["caption"]) == len(block["product_id"])


def test_blocks_without_seed_are_in_file_order(skip_file):
    reader = FashionGenReader(skip_file, on_bad_caption="skip", block_size=4)
    ids = _ids(reader, None)
    assert ids == sorted(ids)


def test_block_order_changes_with_seed(tmp_path):
    path = write_file(tmp_path / "order.h5", captions(40))
    reader = FashionGenReader(path, block_size=4)
    orders = {seed: _ids(reader, seed) for seed in range(4)}
    assert orders[0] == _ids(reader, 0)  # a seed fixes the order
    assert len({tuple(o) for o in orders.values()}) > 1
    assert orders[0] != sorted(orders[0])
    assert all(sorted(o) == sorted(orders[0]) for o in orders.values())


def test_dataset_shuffle_covers_each_row_once(skip_file):
    reader = FashionGenReader(skip_file, on_bad_caption="skip", block_size=4)
    ids = [int(e["product_id"]) for e in reader.dataset(shuffle=True, seed=3)]
    assert len(ids) == reader.num_examples == 19
    assert len(set(ids)) == 19


def test_dataset_repeat_goes_past_one_epoch(skip_file):
    reader = FashionGenReader(skip_file, on_bad_caption="skip", block_size=4)
    n = reader.num_examples
    ids = [int(e["product_id"]) for e in reader.dataset(shuffle=True, seed=0, repeat=True).take(3 * n)]
    assert len(ids) == 3 * n
    counts = collections.Counter(ids)
    assert set(counts.values()) == {3}
    # Every epoch is a full pass; the block order is drawn anew per epoch.
    epochs = [ids[i * n:(i + 1) * n] for i in range(3)]
    assert all(sorted(e) == sorted(epochs[0]) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_dataset_without_repeat_ends(small_file):
    reader = FashionGenReader(small_file, block_size=3)
    assert sum(1 for _ in reader.dataset(repeat=False)) == 10
