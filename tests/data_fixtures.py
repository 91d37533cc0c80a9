"""Tiny embedded data for tests: fake Fashion-MNIST IDX files and a built dataset."""

import gzip
import struct

import numpy as np

from fashion_t2i.data.build_fashion_mnist_lib import FashionMnistBuilder


def write_idx(path, array):
    """`array` (uint8) as a gzipped IDX file, the Fashion-MNIST format."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.asarray(array).astype(np.uint8).tobytes())


def tiny_embedded_data(root, size, num_train=24, num_validation=8, seed=0):
    """Embedded data built from random 28 px IDX images (labels 0..9 in turn).

    Returns:
        `(train_path, validation_path)` of the built HDF5 files in `root/built`.
    """
    rng = np.random.default_rng(seed)
    for prefix, num in (("train", num_train), ("t10k", num_validation)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (num, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(num) % 10)
    builder = FashionMnistBuilder(str(root / "built"), size=size, source_dir=str(root))
    builder.build()
    return builder.train_path, builder.validation_path
