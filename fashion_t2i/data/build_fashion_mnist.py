"""Builds the embedded default data: colourised, captioned Fashion-MNIST.

Builds what `python -m fashion_t2i.train --preset=<preset>` reads: the
preset's `data.fashion_mnist_*` size and counts, its `data.seed`, in its
`data.fashion_mnist_dir`; a flag that is set replaces the preset's value
(`--out_dir` as train's `--data_dir`). Does nothing when the output is already
up to date, so `make train` can run it every time.

    python -m fashion_t2i.data.build_fashion_mnist --preset=smoke [--out_dir=data/fashion_mnist_smoke]
"""

import dataclasses

from absl import app, flags

from fashion_t2i.config import PRESETS, get_preset
from fashion_t2i.data import build_fashion_mnist_lib

_PRESET = flags.DEFINE_enum(
    "preset", "demo", sorted(PRESETS), "Preset whose embedded data is built."
)
_OUT_DIR = flags.DEFINE_string(
    "out_dir", None,
    "Directory of train.h5, validation.h5 and build_info.json (default: the preset's "
    "data.fashion_mnist_dir).",
)
_SIZE = flags.DEFINE_integer(
    "size", None, "Image height and width on disk (default: the preset's).", lower_bound=8
)
_TRAIN_LIMIT = flags.DEFINE_integer(
    "train_limit", None,
    "Images taken from the 60000 train images; 0 takes all (default: the preset's).",
    lower_bound=0,
)
_VALIDATION_LIMIT = flags.DEFINE_integer(
    "validation_limit", None,
    "Images taken from the 10000 test images; 0 takes all (default: the preset's).",
    lower_bound=0,
)
_SEED = flags.DEFINE_integer(
    "seed", None, "Seed of the colour, pattern and caption draws (default: the preset's)."
)
_SOURCE_DIR = flags.DEFINE_string(
    "source_dir",
    build_fashion_mnist_lib.DEFAULT_SOURCE_DIR,
    "Directory of the Fashion-MNIST *-ubyte.gz files (Debian package dataset-fashion-mnist); "
    "when it does not exist the Keras download is tried.",
)

# (flag, the DataConfig field it replaces)
_OVERRIDES = (
    (_OUT_DIR, "fashion_mnist_dir"),
    (_SIZE, "fashion_mnist_size"),
    (_TRAIN_LIMIT, "fashion_mnist_train_limit"),
    (_VALIDATION_LIMIT, "fashion_mnist_validation_limit"),
    (_SEED, "seed"),
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    data = get_preset(_PRESET.value).data
    if data.train_path and data.validation_path:
        print(
            f"Preset {_PRESET.value} trains on {data.train_path} and {data.validation_path}, "
            "not on the embedded data; nothing to build."
        )
        return
    data = dataclasses.replace(
        data, **{field: flag.value for flag, field in _OVERRIDES if flag.value is not None}
    )
    build_fashion_mnist_lib.FashionMnistBuilder.from_config(data, source_dir=_SOURCE_DIR.value).build()


if __name__ == "__main__":
    app.run(main)
