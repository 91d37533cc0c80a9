"""The Fashion-Gen HDF5 schema, shared by the reader, the converter and the builder.

A Fashion-Gen file (`fashiongen_256_256_train.h5`) holds, for N examples:

| dataset             | shape          | dtype                     |
|---------------------|----------------|---------------------------|
| `input_image`       | (N, H, W, 3)   | uint8                     |
| `input_description` | (N, 1)         | byte string (latin-1)     |
| `input_name`        | (N, 1)         | byte string               |
| `input_category`    | (N, 1)         | byte string               |
| `input_productID`   | (N, 1) or (N,) | integer, or digit strings |

Files written by this project may add attribute ids used for evaluation on the
embedded data: `class_id`, `colour_id`, `pattern_id`, each (N,) int32, and
`held_out_words`, (N,) int32: 1 where the caption uses held-out synonyms
(`attributes.HELD_OUT_WORDS`, validation rows only), else 0.
"""

import os

import h5py
import numpy as np

IMAGE = "input_image"
DESCRIPTION = "input_description"
NAME = "input_name"
CATEGORY = "input_category"
PRODUCT_ID = "input_productID"
TEXT_DATASETS = (DESCRIPTION, NAME, CATEGORY)
REQUIRED = (IMAGE, DESCRIPTION, NAME, CATEGORY, PRODUCT_ID)
ATTRIBUTES = ("class_id", "colour_id", "pattern_id")
HELD_OUT = "held_out_words"
# Rows per read when a column is scanned in full.
_SCAN_BLOCK = 4096


class SchemaError(ValueError):
    """An HDF5 file does not follow the Fashion-Gen schema."""


def open_checked(path):
    """Opens `path` read-only and checks it against the schema.

    Returns:
        `(h5py.File, num_examples)`. The caller closes the file.

    Raises:
        FileNotFoundError: `path` does not exist.
        SchemaError: the file is not HDF5, or a dataset is missing or has a
            wrong shape or dtype; the message names the file and the problem.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Fashion-Gen HDF5 file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SchemaError(f"{path}: not a readable HDF5 file ({e}).") from e
    try:
        num = _check(f, path)
    except BaseException:
        f.close()
        raise
    return f, num


def _check(f, path):
    missing = [name for name in REQUIRED if name not in f]
    if missing:
        raise SchemaError(
            f"{path}: missing dataset(s) {missing}; a Fashion-Gen file needs {list(REQUIRED)}."
        )
    images = f[IMAGE]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise SchemaError(f"{path}: {IMAGE} must have shape (N, H, W, 3), got {images.shape}.")
    if images.shape[1] != images.shape[2]:
        raise SchemaError(
            f"{path}: {IMAGE} must hold square images (N, S, S, 3), got {images.shape}; "
            "convert the catalogue with fashion_t2i.data.convert_catalogue, which pads to square."
        )
    if images.dtype != np.uint8:
        raise SchemaError(f"{path}: {IMAGE} must be uint8, got {images.dtype}.")
    num = images.shape[0]
    if num == 0:
        raise SchemaError(f"{path}: {IMAGE} holds no examples.")
    for name in TEXT_DATASETS:
        ds = f[name]
        if ds.shape not in ((num, 1), (num,)):
            raise SchemaError(f"{path}: {name} must have shape ({num}, 1), got {ds.shape}.")
        if ds.dtype.kind not in ("S", "O"):
            raise SchemaError(f"{path}: {name} must hold byte strings, got dtype {ds.dtype}.")
    ids = f[PRODUCT_ID]
    if ids.shape not in ((num, 1), (num,)):
        raise SchemaError(f"{path}: {PRODUCT_ID} must have shape ({num}, 1), got {ids.shape}.")
    if ids.dtype.kind not in ("i", "u", "S", "O"):
        raise SchemaError(
            f"{path}: {PRODUCT_ID} must hold integers or digit strings, got {ids.dtype}."
        )
    if ids.dtype.kind in ("S", "O"):
        for start in range(0, num, _SCAN_BLOCK):
            for offset, value in enumerate(ids[start : start + _SCAN_BLOCK]):
                try:
                    product_id_to_int(value)
                except SchemaError as e:
                    raise SchemaError(f"{path}: row {start + offset}: {e}") from None
    for name in ATTRIBUTES + (HELD_OUT,):
        if name in f and f[name].shape != (num,):
            raise SchemaError(f"{path}: {name} must have shape ({num},), got {f[name].shape}.")
    return num


def product_id_to_int(value):
    """Converts a stored product id (integer or digit byte string) to int."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        text = value.decode("latin-1").strip()
        if not text.lstrip("-").isdigit():
            raise SchemaError(f"{PRODUCT_ID} value {text!r} is not an integer.")
        return int(text)
    return int(value)


def create(path, num, image_size, attributes=False):
    """Creates an empty schema file for `num` examples; returns the open file.

    Text datasets are variable-length byte strings, images are chunked per
    example so readers can stream them. With `attributes`, the attribute ids
    and `held_out_words` (all 0) are created too.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    f = h5py.File(path, "w")
    f.create_dataset(
        IMAGE,
        shape=(num, image_size, image_size, 3),
        dtype=np.uint8,
        chunks=(1, image_size, image_size, 3),
    )
    text_dtype = h5py.special_dtype(vlen=bytes)
    for name in TEXT_DATASETS:
        f.create_dataset(name, shape=(num, 1), dtype=text_dtype)
    f.create_dataset(PRODUCT_ID, shape=(num, 1), dtype=np.int64)
    if attributes:
        for name in ATTRIBUTES + (HELD_OUT,):
            f.create_dataset(name, shape=(num,), dtype=np.int32)
    return f
