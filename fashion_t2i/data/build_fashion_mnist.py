"""Builds the embedded default data: colourised, captioned Fashion-MNIST.

Does nothing when the output is already up to date, so `make train` can run it
every time.

    python -m fashion_t2i.data.build_fashion_mnist --out_dir data/fashion_mnist --size 64
"""

from absl import app, flags

from fashion_t2i.data import build_fashion_mnist_lib

_OUT_DIR = flags.DEFINE_string(
    "out_dir", "data/fashion_mnist", "Directory of train.h5, validation.h5 and build_info.json."
)
_SIZE = flags.DEFINE_integer("size", 64, "Image height and width on disk.")
_TRAIN_LIMIT = flags.DEFINE_integer(
    "train_limit", 0, "Images taken from the 60000 train images; 0 takes all."
)
_VALIDATION_LIMIT = flags.DEFINE_integer(
    "validation_limit", 0, "Images taken from the 10000 test images; 0 takes all."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the colour, pattern and caption draws.")
_SOURCE_DIR = flags.DEFINE_string(
    "source_dir",
    build_fashion_mnist_lib.DEFAULT_SOURCE_DIR,
    "Directory of the Fashion-MNIST *-ubyte.gz files (Debian package dataset-fashion-mnist); "
    "when it does not exist the Keras download is tried.",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    build_fashion_mnist_lib.FashionMnistBuilder(
        out_dir=_OUT_DIR.value,
        size=_SIZE.value,
        train_limit=_TRAIN_LIMIT.value,
        validation_limit=_VALIDATION_LIMIT.value,
        seed=_SEED.value,
        source_dir=_SOURCE_DIR.value,
    ).build()


if __name__ == "__main__":
    app.run(main)
