"""Builds the embedded default data: colourised, captioned Fashion-MNIST.

Fashion-MNIST (Xiao et al., 2017) holds 28x28 grey product photos of 10
classes, white garment on black. Each image is inverted onto a white
background, resized, given one of `COLOUR_NAMES` and one of `PATTERN_NAMES`
at random, and captioned from templates that name the colour and the class
(each by one of its synonyms) and the pattern (solid products half of the
time): short captions, or shop-style ones with detail sentences that the
image does not show. The ground-truth ids are stored next to the images
(`class_id`, `colour_id`, `pattern_id`), so text-image agreement can be
measured without people. In `HELD_OUT_FRACTION` of the validation rows,
marked in `held_out_words`, the captions use synonyms that no training
caption uses (`attributes.HELD_OUT_WORDS`).
"""

import gzip
import json
import os
import struct

import numpy as np

from fashion_t2i import files
from fashion_t2i.data import attributes
from fashion_t2i.data import schema
from fashion_t2i.data.attributes import CATEGORY_NAMES, CLASS_NAMES, COLOUR_NAMES, COLOUR_RGB
from fashion_t2i.data.attributes import CLASS_WORDS, COLOUR_WORDS, HELD_OUT_CLASS_WORDS
from fashion_t2i.data.attributes import HELD_OUT_COLOUR_WORDS, PATTERN_ADJECTIVES, PATTERN_NAMES
from fashion_t2i.data.attributes import PATTERN_PHRASES, PLURAL_FORMS, split_words

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
TRAIN_FILE = "train.h5"
VALIDATION_FILE = "validation.h5"
BUILD_INFO_FILE = "build_info.json"
# Validation product ids start here so that ids are unique across both files.
VALIDATION_ID_OFFSET = 100000

# 2: solid products are described without a pattern word half of the time.
# 3: half of the captions are shop-style (main sentence plus detail sentences),
#    colours and classes have synonyms, footwear is sometimes plural, and
#    `HELD_OUT_FRACTION` of the validation rows use held-out synonyms
#    (`held_out_words` column).
# 4: "jeans" (a held-out trouser word) is plural: "red jeans", not "a red jeans".
_FORMAT_VERSION = 4
_SOURCE_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "validation": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_PROGRESS_EVERY = 5000
# Below this fraction of the image's peak a pixel fades into the background;
# above it the pixel is fully garment, so dim garments keep a solid colour.
_GARMENT_THRESHOLD = 0.2
# Shading keeps the garment's folds and seams visible without turning one
# named colour into another (yellow darkened by half would read as olive).
_MIN_SHADE = 0.75
# The light part of a pattern: the colour moved this far towards white.
_TINT = 0.75

# Main sentences. An article only ever precedes the colour, which decides "a" or "an".
_TEMPLATES = (
    "{article}{colour} {adjective} {noun}",
    "{adjective} {noun} in {colour}",
    "{article}{colour} {noun} {phrase}",
    "{noun} in {adjective} {colour}",
    "{adjective} {colour} {noun}",
    "{determiner} {noun} {verb} {colour} and {adjective}",
    "{colour} {noun} {phrase}",
    "{noun}, {colour}, {adjective}",
    "{noun} in {colour}, {adjective}",
    "{colour} {noun}, {phrase}",
    "{determiner} {adjective} {noun} {verb} {colour}",
)
# Shops rarely write "solid": half of the solid products get one of these.
_TEMPLATES_WITHOUT_PATTERN = (
    "{article}{colour} {noun}",
    "{noun} in {colour}",
    "{determiner} {noun} {verb} {colour}",
    "{colour} {noun}",
    "{noun}, {colour}",
)
SOLID_WITHOUT_PATTERN_WORD = 0.5
# Shop-style captions follow the main sentence with detail sentences that say
# nothing the image shows, one of each drawn kind. None holds a colour, class
# or pattern word.
_DETAILS = (
    ("Cotton blend.", "Soft wool.", "Organic cotton.", "Linen mix.", "Recycled polyester."),
    ("Relaxed fit.", "Slim fit.", "Regular fit.", "Oversized cut.", "True to size."),
    ("Zip closure.", "Button fastening.", "Lace-up front.", "Press studs."),
    ("Ribbed cuffs.", "Two side pockets.", "Contrast stitching.", "Padded collar."),
    ("Machine wash.", "Dry clean only.", "Hand wash only.", "Cool iron."),
)
SHOP_STYLE = 0.5
# Share of shop-style captions that open with one detail sentence.
DETAIL_FIRST = 0.2
# A leading detail is kept only if the main sentence still ends within this
# many words (the tokenizer's `max_words` in the demo), else it follows.
_MAX_LEADING_WORDS = 12
FOOTWEAR_PLURAL = 0.5
# Share of the validation rows whose captions use the held-out synonyms.
HELD_OUT_FRACTION = 0.3


class FashionMnistBuilder:
    """Writes colourised, captioned Fashion-MNIST in the Fashion-Gen schema.

    `build()` writes `train.h5` (from the 60000 train images) and
    `validation.h5` (from the 10000 test images) into `out_dir`, with the
    attribute ids and `held_out_words`, and `build_info.json` with the
    parameters and counts. When both files already exist and were built with
    the same parameters it does nothing, so training can call it every time.
    Files are written under temporary names and renamed at the end: an
    interrupted build never leaves a file that looks complete.

    The source is Debian's `dataset-fashion-mnist` (IDX files in
    `source_dir`); when that directory does not exist, the Keras download.

    Colour, pattern, held-out rows and caption wording are drawn per example
    from `numpy.random.default_rng((seed, split))`: the output is a function
    of the parameters alone.

    Args:
        out_dir: directory of the output files.
        size: image height and width on disk (>= 8). Patterns scale with it
            (stripes and checks are `size / 8` px wide, dots repeat every
            `size / 4` px), so they survive downsampling to half the size.
        train_limit: images taken from the train file; 0 takes all.
        validation_limit: images taken from the test file; 0 takes all.
        seed: seed of the colour, pattern and caption draws.
        source_dir: directory of the Fashion-MNIST `*-ubyte.gz` files.
        chunk_size: images colourised and written at a time; bounds memory.

    Raises:
        ValueError: a size, limit or chunk size out of range.

    Example:

    ```python
    builder = FashionMnistBuilder("data/fashion_mnist", size=64)
    info = builder.build()
    info["counts"]  # {"train": 60000, "validation": 10000}
    ```
    """

    def __init__(
        self,
        out_dir,
        size=64,
        train_limit=0,
        validation_limit=0,
        seed=0,
        source_dir=DEFAULT_SOURCE_DIR,
        chunk_size=1024,
    ):
        if int(size) < 8:
            raise ValueError(f"size must be >= 8 pixels, got {size}.")
        for name, value in (("train_limit", train_limit), ("validation_limit", validation_limit)):
            if int(value) < 0:
                raise ValueError(f"{name} must be >= 0 (0 takes all images), got {value}.")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
        self.out_dir = out_dir
        self.size = int(size)
        self.train_limit = int(train_limit)
        self.validation_limit = int(validation_limit)
        self.seed = int(seed)
        self.source_dir = source_dir
        self.chunk_size = int(chunk_size)
        self.train_path = os.path.join(out_dir, TRAIN_FILE)
        self.validation_path = os.path.join(out_dir, VALIDATION_FILE)
        self.info_path = os.path.join(out_dir, BUILD_INFO_FILE)

    @classmethod
    def from_config(cls, config, source_dir=DEFAULT_SOURCE_DIR):
        """Creates a builder from a `DataConfig`.

        Args:
            config: a `DataConfig`; its `fashion_mnist_*` fields and `seed` are used.
            source_dir: directory of the Fashion-MNIST `*-ubyte.gz` files.

        Returns:
            A `FashionMnistBuilder`.
        """
        return cls(
            out_dir=config.fashion_mnist_dir,
            size=config.fashion_mnist_size,
            train_limit=config.fashion_mnist_train_limit,
            validation_limit=config.fashion_mnist_validation_limit,
            seed=config.seed,
            source_dir=source_dir,
        )

    def parameters(self):
        """The parameters that determine the output, as stored in `build_info.json`."""
        return {
            "format_version": _FORMAT_VERSION,
            "seed": self.seed,
            "size": self.size,
            "train_limit": self.train_limit,
            "validation_limit": self.validation_limit,
            "class_names": list(CLASS_NAMES),
            "category_names": list(CATEGORY_NAMES),
            "colour_names": list(COLOUR_NAMES),
            "colour_rgb": [list(rgb) for rgb in COLOUR_RGB],
            "pattern_names": list(PATTERN_NAMES),
        }

    def is_built(self):
        """Whether both files exist, pass the schema check and match `parameters()`."""
        try:
            with open(self.info_path, encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError):
            return False
        if info.get("parameters") != self.parameters():
            return False
        for split, path in (("train", self.train_path), ("validation", self.validation_path)):
            try:
                f, num = schema.open_checked(path)
            except (OSError, schema.SchemaError):
                return False
            f.close()
            if num != info.get("counts", {}).get(split):
                return False
        return True

    def build(self):
        """Builds both files unless they are up to date.

        Returns:
            The build info dict (as in `build_info.json`): `parameters`,
            `counts` (`{"train": n, "validation": m}`) and `source`.

        Raises:
            FileNotFoundError: `source_dir` lacks a Fashion-MNIST file, or it
                does not exist and the Keras download failed.
            ValueError: a source file is not a valid IDX file.
        """
        if self.is_built():
            print(f"fashion_mnist: {self.out_dir} is up to date, not rebuilding.", flush=True)
            with open(self.info_path, encoding="utf-8") as f:
                return json.load(f)
        os.makedirs(self.out_dir, exist_ok=True)
        # A stale info file must not vouch for files half replaced below.
        if os.path.exists(self.info_path):
            os.remove(self.info_path)
        source, splits = self._load_source()
        counts = {}
        for split_index, (split, path) in enumerate(
            (("train", self.train_path), ("validation", self.validation_path))
        ):
            images, labels = splits[split]
            id_offset = VALIDATION_ID_OFFSET if split == "validation" else 0
            rng = np.random.default_rng((self.seed, split_index))
            with files.atomic_path(path) as tmp:
                self._write_split(tmp, split, images, labels, id_offset, rng)
            counts[split] = int(len(labels))
        info = {"parameters": self.parameters(), "counts": counts, "source": source}
        files.write_json(self.info_path, info)
        print(f"fashion_mnist: wrote {counts} examples to {self.out_dir}.", flush=True)
        return info

    def _load_source(self):
        """Returns `(source description, {split: (images, labels)})`, limits applied."""
        limits = {"train": self.train_limit, "validation": self.validation_limit}
        if os.path.isdir(self.source_dir):
            splits = {}
            for split, (image_file, label_file) in _SOURCE_FILES.items():
                limit = limits[split] or None
                images = _read_idx(os.path.join(self.source_dir, image_file), limit)
                labels = _read_idx(os.path.join(self.source_dir, label_file), limit)
                if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                    raise ValueError(
                        f"{self.source_dir}: {image_file} {images.shape} and {label_file} "
                        f"{labels.shape} are not matching image and label files."
                    )
                splits[split] = (images, labels)
            return self.source_dir, splits
        try:
            train, validation = _load_keras()
        # Any failure (no network, no Keras, a proxy error page) gets the same advice.
        except Exception as e:
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {self.source_dir} and the Keras download failed "
                f"({e}). Install it with 'sudo apt-get install dataset-fashion-mnist', or pass "
                "--source_dir with the *-ubyte.gz files."
            ) from e
        splits = {}
        for split, (images, labels) in (("train", train), ("validation", validation)):
            limit = limits[split] or None
            splits[split] = (images[:limit], labels[:limit])
        return "keras.datasets.fashion_mnist", splits

    def _write_split(self, path, split, images, labels, id_offset, rng):
        """Writes one split to `path` chunk by chunk; draws its ids and captions from `rng`."""
        num = len(labels)
        labels = labels.astype(np.int32)
        colour_ids = rng.integers(len(COLOUR_NAMES), size=num, dtype=np.int32)
        pattern_ids = rng.integers(len(PATTERN_NAMES), size=num, dtype=np.int32)
        held_out = np.zeros(num, bool)
        if split == "validation":
            held_out[rng.permutation(num)[: round(HELD_OUT_FRACTION * num)]] = True
        descriptions = _captions(labels, colour_ids, pattern_ids, rng, held_out)
        resize = (
            _resize_matrix(images.shape[1], self.size),
            _resize_matrix(images.shape[2], self.size),
        )
        masks = _pattern_masks(self.size)
        with schema.create(path, num, self.size, attributes=True) as f:
            for start in range(0, num, self.chunk_size):
                stop = min(start + self.chunk_size, num)
                rows = slice(start, stop)
                f[schema.IMAGE][rows] = _colourise(
                    images[rows], colour_ids[rows], pattern_ids[rows], resize, masks
                )
                f[schema.DESCRIPTION][rows, 0] = _byte_array(descriptions[rows])
                f[schema.NAME][rows, 0] = _byte_array(
                    _name(c, k, p)
                    for c, k, p in zip(colour_ids[rows], labels[rows], pattern_ids[rows])
                )
                f[schema.CATEGORY][rows, 0] = _byte_array(CATEGORY_NAMES[k] for k in labels[rows])
                f[schema.PRODUCT_ID][rows, 0] = np.arange(start, stop, dtype=np.int64) + id_offset
                f["class_id"][rows] = labels[rows]
                f["colour_id"][rows] = colour_ids[rows]
                f["pattern_id"][rows] = pattern_ids[rows]
                f[schema.HELD_OUT][rows] = held_out[rows]
                if stop == num or stop // _PROGRESS_EVERY > start // _PROGRESS_EVERY:
                    print(f"fashion_mnist: {split} {stop}/{num} images", flush=True)


def _load_keras():
    """The Keras download; kept apart so Keras is only imported when needed."""
    import keras

    return keras.datasets.fashion_mnist.load_data()


def _read_idx(path, limit=None):
    """Reads a gzipped IDX file of unsigned bytes (the MNIST format).

    Args:
        path: the `.gz` file.
        limit: read only the first `limit` items; None reads all.

    Returns:
        A uint8 array of the stored shape, cut to `limit` items.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not gzip, not IDX of unsigned bytes, or short.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Fashion-MNIST file not found: {path}. Reinstall it with "
            "'sudo apt-get install --reinstall dataset-fashion-mnist' or pass --source_dir."
        )
    try:
        with gzip.open(path, "rb") as f:
            zero, dtype_code, ndim = struct.unpack(">HBB", f.read(4))
            if zero != 0 or dtype_code != 0x08 or ndim < 1:
                raise ValueError("bad magic number (expected IDX of unsigned bytes)")
            shape = list(struct.unpack(f">{ndim}I", f.read(4 * ndim)))
            if limit is not None:
                shape[0] = min(shape[0], limit)
            count = int(np.prod(shape))
            data = f.read(count)
    except (OSError, EOFError, struct.error, ValueError) as e:
        raise ValueError(f"{path}: not a valid gzipped IDX file ({e}).") from e
    if len(data) != count:
        raise ValueError(f"{path}: truncated, expected {count} bytes of data, got {len(data)}.")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _resize_matrix(in_size, out_size):
    """Bilinear resampling as a matrix: `out = matrix @ in` along one axis.

    The triangle filter is widened by the scale when shrinking (as PIL does),
    so downsampling averages instead of aliasing.
    """
    scale = in_size / out_size
    support = max(scale, 1.0)
    centres = (np.arange(out_size) + 0.5) * scale
    positions = np.arange(in_size) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(positions[None, :] - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _pattern_masks(size):
    """Pattern masks, (len(PATTERN_NAMES), size, size) float32.

    1 where the garment colour shows, 0 where the light tint shows.
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    band = size / 8
    stripes = (np.floor(y / band) % 2 == 0).astype(np.float32)
    checks = ((np.floor(y / band) + np.floor(x / band)) % 2 == 0).astype(np.float32)
    # One dot in the middle of each (size/4)-px cell, half a cell across.
    cell = size / 4
    dy = (y % cell) - cell / 2
    dx = (x % cell) - cell / 2
    dots = (dy**2 + dx**2 > (cell / 4) ** 2).astype(np.float32)
    solid = np.ones((size, size), np.float32)
    return np.stack([solid, stripes, dots, checks])


def _colourise(grey, colour_ids, pattern_ids, resize, masks):
    """Turns white-on-black grey images into coloured, patterned images on white.

    Args:
        grey: (B, h, w) uint8, garment bright on black (Fashion-MNIST).
        colour_ids: (B,) indices into `COLOUR_RGB`.
        pattern_ids: (B,) indices into `masks`.
        resize: (row matrix, column matrix) from `_resize_matrix`.
        masks: from `_pattern_masks`.

    Returns:
        (B, size, size, 3) uint8.
    """
    rows, cols = resize
    intensity = np.clip(rows @ (grey.astype(np.float32) / 255.0) @ cols.T, 0.0, 1.0)
    # Relative to the image's own peak, so dim garments are as opaque as bright ones.
    peak = np.maximum(intensity.max(axis=(1, 2), keepdims=True), 0.1)
    relative = np.minimum(intensity / peak, 1.0)
    alpha = np.minimum(relative / _GARMENT_THRESHOLD, 1.0)
    shaded = alpha * (_MIN_SHADE + (1.0 - _MIN_SHADE) * relative)
    colour = np.asarray(COLOUR_RGB, np.float32)[colour_ids]
    tint = colour + (255.0 - colour) * _TINT
    # out = 255 (1 - alpha) + alpha * shade * (tint + mask * (colour - tint)), written
    # as one small matmul per image: 3x faster than broadcasting over RGB.
    features = np.stack([alpha, shaded, shaded * masks[pattern_ids]], axis=-1)
    coefficients = np.stack([np.full_like(colour, -255.0), tint, colour - tint], axis=1)
    out = features.reshape(len(grey), -1, 3) @ coefficients
    # + 0.5 then truncation rounds; out is never below 0.
    out += 255.5
    return out.reshape(features.shape[:3] + (3,)).astype(np.uint8)


def _captions(class_ids, colour_ids, pattern_ids, rng, held_out=None):
    """Captions naming colour, class and pattern; returns an object array of str.

    A caption is either short (one template, random case and full stop) or,
    with probability `SHOP_STYLE`, shop-style: the template as a sentence
    followed by one to three `_DETAILS` sentences, one of which comes first
    with probability `DETAIL_FIRST`. Colour and class words are drawn from
    their synonyms, footwear is plural with probability `FOOTWEAR_PLURAL`.
    A solid product's caption leaves the pattern out with probability
    `SOLID_WITHOUT_PATTERN_WORD` (what leaves it out is the absence of a
    pattern, as in a shop's "a red dress").

    Args:
        class_ids, colour_ids, pattern_ids: (N,) attribute ids.
        rng: a `numpy.random.Generator`; every draw is made up front, so the
            captions do not depend on how the rows are chunked.
        held_out: (N,) bool or None; these rows say the held-out colour word
            and, where the class has one, the held-out class word.
    """
    num = len(class_ids)
    held_out = np.zeros(num, bool) if held_out is None else np.asarray(held_out, bool)
    template_ids = rng.integers(len(_TEMPLATES), size=num)
    picks = rng.random((num, 4))
    capitalise = rng.random(num) < 0.5
    full_stop = rng.random(num) < 0.5
    no_pattern_word = (rng.random(num) < SOLID_WITHOUT_PATTERN_WORD) & (
        np.asarray(pattern_ids) == PATTERN_NAMES.index("solid")
    )
    plural = rng.random(num) < FOOTWEAR_PLURAL
    shop_style = rng.random(num) < SHOP_STYLE
    num_details = rng.integers(1, 4, size=num)
    detail_kinds = rng.random((num, len(_DETAILS))).argsort(axis=1)
    detail_picks = rng.random((num, len(_DETAILS)))
    detail_first = rng.random(num) < DETAIL_FIRST
    captions = np.empty(num, dtype=object)
    for i in range(num):
        class_id, colour_id, pattern_id = class_ids[i], colour_ids[i], pattern_ids[i]
        noun = _pick(CLASS_WORDS[class_id], picks[i, 0])
        colour = _pick(COLOUR_WORDS[colour_id], picks[i, 3])
        if held_out[i]:
            colour = HELD_OUT_COLOUR_WORDS[colour_id]
            noun = HELD_OUT_CLASS_WORDS[class_id] or noun
        if plural[i]:
            noun = PLURAL_FORMS.get(noun, noun)
        plural_noun = attributes.is_plural(noun)
        templates = _TEMPLATES_WITHOUT_PATTERN if no_pattern_word[i] else _TEMPLATES
        text = templates[template_ids[i] % len(templates)].format(
            article=attributes.article(noun, colour),
            colour=colour,
            noun=noun,
            adjective=_pick(PATTERN_ADJECTIVES[pattern_id], picks[i, 1]),
            phrase=_pick(PATTERN_PHRASES[pattern_id], picks[i, 2]),
            determiner="these" if plural_noun else "this",
            verb="are" if plural_noun else "is",
        )
        if not shop_style[i]:
            if capitalise[i]:
                text = text[0].upper() + text[1:]
            captions[i] = text + "." if full_stop[i] else text
            continue
        main = text[0].upper() + text[1:] + "."
        details = [
            _pick(_DETAILS[kind], detail_picks[i, kind])
            for kind in detail_kinds[i, : num_details[i]]
        ]
        lead = detail_first[i] and (
            len(split_words(details[0])) + len(split_words(main)) <= _MAX_LEADING_WORDS
        )
        sentences = [details[0], main] + details[1:] if lead else [main] + details
        captions[i] = " ".join(sentences)
    return captions


def _pick(options, u):
    return options[int(u * len(options))]


def _name(colour_id, class_id, pattern_id):
    """Product name such as "Striped navy blue ankle boot"."""
    text = f"{PATTERN_NAMES[pattern_id]} {COLOUR_NAMES[colour_id]} {CLASS_WORDS[class_id][0]}"
    return text[0].upper() + text[1:]


def _byte_array(texts):
    return np.array([text.encode("latin-1") for text in texts], dtype=object)


