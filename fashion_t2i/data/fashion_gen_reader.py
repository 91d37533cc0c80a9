"""Lazy, streaming reads of a Fashion-Gen schema HDF5 file."""

import numpy as np
import tensorflow as tf

from fashion_t2i.data import schema


class FashionGenReader:
    """Streams examples from a Fashion-Gen HDF5 file without loading it.

    On construction the file is checked against the schema and the caption
    column (text only, read block by block) is scanned once: a caption that
    is empty, has no letter or digit, or is not valid in `encoding` is an
    error naming the file and the row, or, with `on_bad_caption="skip"`, is
    left out and counted in `skipped`.

    Images are read in blocks of `block_size` contiguous rows; `dataset()`
    visits the blocks in a shuffled order, so memory holds one block at a
    time however large the file is (Fashion-Gen's train file is 13 GB).

    `has_attributes` and `has_held_out` say whether examples carry the
    attribute ids and `held_out_words` (files of the embedded data do).

    Args:
        path: the HDF5 file.
        encoding: `"latin-1"` (Fashion-Gen) or `"utf-8"` (strict).
        on_bad_caption: `"error"` or `"skip"`.
        block_size: rows per HDF5 read.

    Raises:
        FileNotFoundError: no file at `path`.
        schema.SchemaError: the file breaks the schema, or (with
            `on_bad_caption="error"`) holds a bad caption.
    """

    def __init__(self, path, encoding="latin-1", on_bad_caption="error", block_size=256):
        self.path = path
        self.encoding = encoding
        self.on_bad_caption = on_bad_caption
        self.block_size = int(block_size)
        with self._open() as (f, num):
            self.num_rows = num
            self.image_size = int(f[schema.IMAGE].shape[1])
            self.has_attributes = all(name in f for name in schema.ATTRIBUTES)
            self.has_held_out = schema.HELD_OUT in f
            self.valid_rows = self._scan_captions(f)
        self.skipped = self.num_rows - len(self.valid_rows)
        if not len(self.valid_rows):
            raise schema.SchemaError(f"{path}: no example has a usable caption.")

    @classmethod
    def from_config(cls, path, data_config):
        """A reader of `path` with the encoding, caption policy and block size of a `DataConfig`."""
        return cls(path, data_config.encoding, data_config.on_bad_caption, data_config.block_size)

    def _open(self):
        return _CheckedFile(self.path)

    @property
    def num_examples(self):
        return len(self.valid_rows)

    def _decode(self, raw):
        """Decodes one stored caption; returns None when it is unusable."""
        if isinstance(raw, np.ndarray):
            raw = raw.reshape(-1)[0]
        if isinstance(raw, str):
            text = raw
        else:
            try:
                text = bytes(raw).decode(self.encoding)
            except UnicodeDecodeError:
                return None
        if not any(ch.isalnum() for ch in text):
            return None
        return text.strip()

    def _scan_captions(self, f):
        valid = []
        descriptions = f[schema.DESCRIPTION]
        for start in range(0, self.num_rows, self.block_size):
            block = descriptions[start : start + self.block_size]
            for offset, raw in enumerate(block):
                row = start + offset
                if self._decode(raw) is not None:
                    valid.append(row)
                elif self.on_bad_caption == "error":
                    raise schema.SchemaError(
                        f"{self.path}: row {row} of {schema.DESCRIPTION} is empty, has no "
                        f"word, or is not valid {self.encoding} ({bytes(np.asarray(raw).reshape(-1)[0])[:60]!r}). "
                        "Fix the data or pass on_bad_caption='skip' to leave such rows out."
                    )
        return np.asarray(valid, dtype=np.int64)

    def captions(self):
        """Yields the usable captions as `str`, in file order."""
        with self._open() as (f, _):
            descriptions = f[schema.DESCRIPTION]
            valid = set(self.valid_rows.tolist())
            for start in range(0, self.num_rows, self.block_size):
                block = descriptions[start : start + self.block_size]
                for offset, raw in enumerate(block):
                    if start + offset in valid:
                        yield self._decode(raw)

    def attribute_ids(self, name):
        """The ids of attribute `name` (e.g. `"colour_id"`) of the usable rows, in `captions()` order.

        Raises:
            KeyError: the file has no such attribute column.
        """
        if name not in schema.ATTRIBUTES or not self.has_attributes:
            raise KeyError(f"{self.path} has no attribute column {name!r}.")
        with self._open() as (f, _):
            return f[name][:][self.valid_rows].astype(np.int64)

    def read_rows(self, rows):
        """Reads the examples at sorted `rows` (indices of the file) as numpy arrays.

        Returns:
            A dict: `image` uint8 [n, H, W, 3], `caption` UTF-8 bytes [n],
            `product_id` int64 [n], and the attribute ids and `held_out_words`
            (int32 [n]) when the file has them.
        """
        rows = np.asarray(rows, dtype=np.int64)
        with self._open() as (f, _):
            return self._read(f, rows)

    def _read(self, f, rows):
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        local = rows - lo
        out = {
            "image": f[schema.IMAGE][lo:hi][local],
            "caption": np.array(
                [self._decode(raw).encode("utf-8") for raw in f[schema.DESCRIPTION][lo:hi][local]],
                dtype=object,
            ),
            "product_id": np.array(
                [schema.product_id_to_int(v) for v in f[schema.PRODUCT_ID][lo:hi][local]],
                dtype=np.int64,
            ),
        }
        if self.has_attributes:
            for name in schema.ATTRIBUTES:
                out[name] = f[name][lo:hi][local].astype(np.int32)
        if self.has_held_out:
            out[schema.HELD_OUT] = f[schema.HELD_OUT][lo:hi][local].astype(np.int32)
        return out

    def blocks(self, seed=None):
        """Yields example dicts block by block; blocks in random order if `seed` is given."""
        starts = np.arange(0, self.num_rows, self.block_size)
        if seed is not None:
            np.random.default_rng(seed).shuffle(starts)
        with self._open() as (f, _):
            for start in starts:
                rows = self.valid_rows[
                    (self.valid_rows >= start) & (self.valid_rows < start + self.block_size)
                ]
                if len(rows):
                    yield self._read(f, rows)

    def element_spec(self):
        size = self.image_size
        spec = {
            "image": tf.TensorSpec([size, size, 3], tf.uint8),
            "caption": tf.TensorSpec([], tf.string),
            "product_id": tf.TensorSpec([], tf.int64),
        }
        if self.has_attributes:
            for name in schema.ATTRIBUTES:
                spec[name] = tf.TensorSpec([], tf.int32)
        if self.has_held_out:
            spec[schema.HELD_OUT] = tf.TensorSpec([], tf.int32)
        return spec

    def dataset(self, shuffle=True, seed=0, repeat=False):
        """A `tf.data.Dataset` of single examples (see `read_rows` for the keys).

        Args:
            shuffle: visit blocks in a random order (a new order every epoch).
            seed: base seed of the block order.
            repeat: repeat forever, with a new block order per epoch.
        """

        def generate():
            epoch = 0
            while True:
                block_seed = (seed, epoch) if shuffle else None
                for block in self.blocks(block_seed):
                    for i in range(len(block["caption"])):
                        yield {key: value[i] for key, value in block.items()}
                epoch += 1
                if not repeat:
                    return

        return tf.data.Dataset.from_generator(generate, output_signature=self.element_spec())


class _CheckedFile:
    """Context manager over `schema.open_checked`."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.file, num = schema.open_checked(self.path)
        return self.file, num

    def __exit__(self, *exc):
        self.file.close()
