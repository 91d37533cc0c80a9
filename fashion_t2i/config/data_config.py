"""Configuration of the training data and the input pipeline."""

import dataclasses

BAD_CAPTION_POLICIES = ("error", "skip")
ENCODINGS = ("latin-1", "utf-8")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is batched.

    Args:
        train_path: Fashion-Gen schema HDF5 file with the training split.
        validation_path: the same schema, validation split.
        encoding: how byte captions are decoded. Fashion-Gen is `"latin-1"`
            (decoding as UTF-8 would drop accents); `"utf-8"` is strict and
            raises on bytes that are not UTF-8.
        on_bad_caption: `"error"` raises on an empty caption (or one that is not
            valid in `encoding`); `"skip"` drops the example and counts it.
        batch_size: global batch size.
        shuffle_buffer: examples held by the shuffle buffer.
        block_size: rows read from HDF5 in one contiguous read. Blocks are
            visited in a shuffled order, so memory stays bounded by
            `block_size + shuffle_buffer` whatever the file size.
        augment: AttnGAN augmentation (resize up by 76/64, random crop,
            horizontal flip).
        deterministic: fixed shuffling and augmentation given `seed`.
        seed: seed for shuffling and augmentation.
        fashion_mnist_dir: where the embedded default data is built.
        fashion_mnist_size: image size of the embedded data on disk.
        fashion_mnist_train_limit: examples taken from the Fashion-MNIST train
            file (0 = all 60000).
        fashion_mnist_validation_limit: examples taken from its test file
            (0 = all 10000).
    """

    train_path: str = ""
    validation_path: str = ""
    encoding: str = "latin-1"
    on_bad_caption: str = "error"
    batch_size: int = 32
    shuffle_buffer: int = 2048
    block_size: int = 256
    augment: bool = True
    deterministic: bool = False
    seed: int = 0
    fashion_mnist_dir: str = "data/fashion_mnist"
    fashion_mnist_size: int = 64
    fashion_mnist_train_limit: int = 0
    fashion_mnist_validation_limit: int = 0

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(
                f"DataConfig.encoding must be one of {ENCODINGS}, got {self.encoding!r}."
            )
        if self.on_bad_caption not in BAD_CAPTION_POLICIES:
            raise ValueError(
                "DataConfig.on_bad_caption must be one of "
                f"{BAD_CAPTION_POLICIES}, got {self.on_bad_caption!r}."
            )
        for name in ("batch_size", "shuffle_buffer", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DataConfig.{name} must be >= 1, got {getattr(self, name)}.")
