"""Converts an own catalogue (images + `captions.jsonl`) to the Fashion-Gen schema."""

import dataclasses
import json
import os
import unicodedata

import h5py
import numpy as np
from PIL import Image, ImageOps

from fashion_t2i import files
from fashion_t2i.config.data_config import BAD_CAPTION_POLICIES
from fashion_t2i.data import schema

_REQUIRED_KEYS = ("image", "text")
_OPTIONAL_TEXT_KEYS = ("name", "category")
_INT64_MAX = np.iinfo(np.int64).max
_PROGRESS_EVERY = 1000
_COPY_BLOCK = 256
# Typographic characters common in shop captions that latin-1 (the schema's
# encoding) lacks, mapped to their ASCII equivalents instead of dropping the line.
_TO_LATIN1 = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)


class CatalogueConverter:
    """Writes a folder of product images and their captions as a Fashion-Gen file.

    `captions.jsonl` holds one JSON object per line:
    `{"image": "relative/path.jpg", "text": "...", "id": 123}`, with optional
    `"name"` and `"category"`. `"id"` may be an integer or a digit string; when
    absent the line number (from 1) is used. Blank lines are ignored.

    Each image is converted to RGB (transparency composited on white), resized
    keeping its aspect ratio to fit `size`, and padded to a square on white.
    Captions are stored as latin-1 bytes, like Fashion-Gen; curly quotes,
    dashes and ellipses become their ASCII forms, any other character latin-1
    lacks makes the line bad.

    A line is bad when it is not UTF-8 or not a JSON object, lacks `"image"`
    or `"text"`, has a caption with no letter or digit, an id that is not an
    integer, or an image that is missing or cannot be decoded. With
    `on_bad="error"` the first bad line raises an error naming the captions
    file, the line number and the problem; with `on_bad="skip"` bad lines are
    left out and reported by `convert()`.

    Args:
        image_dir: the folder the `"image"` paths are relative to.
        captions_path: the JSON-lines file; defaults to
            `<image_dir>/captions.jsonl`.
        size: height and width of the stored images.
        on_bad: `"error"` or `"skip"`.

    Raises:
        FileNotFoundError: `image_dir` is not a directory.
        ValueError: `size` < 1 or an unknown `on_bad`.

    Example:

    ```python
    converter = CatalogueConverter("shop/images", size=256, on_bad="skip")
    summary = converter.convert("data/shop_train.h5")
    summary["written"], summary["skipped"]
    ```
    """

    def __init__(self, image_dir, captions_path=None, size=256, on_bad="error"):
        if on_bad not in BAD_CAPTION_POLICIES:
            raise ValueError(f"on_bad must be one of {BAD_CAPTION_POLICIES}, got {on_bad!r}.")
        if int(size) < 1:
            raise ValueError(f"size must be >= 1 pixel, got {size}.")
        if not os.path.isdir(image_dir):
            raise FileNotFoundError(f"Image directory not found: {image_dir}")
        self.image_dir = image_dir
        self.captions_path = captions_path or os.path.join(image_dir, "captions.jsonl")
        self.size = int(size)
        self.on_bad = on_bad

    def convert(self, out_path):
        """Writes the schema file `out_path` (via a temporary file and a rename).

        Returns:
            A dict: `out` (the path), `written` (examples stored), `skipped`
            (bad lines left out) and `skipped_lines`, a list of
            `(line_number, problem)`.

        Raises:
            FileNotFoundError: the captions file is missing, or (with
                `on_bad="error"`) an image file is.
            ValueError: (with `on_bad="error"`) a bad line; in any mode, no
                usable line at all.
        """
        skipped = []
        records = self._read_records(skipped)
        if not records:
            self._raise_no_usable(skipped)
        with files.atomic_path(out_path) as tmp:
            with schema.create(tmp, len(records), self.size) as f:
                written = self._write_images(f, records, skipped)
                if not written:
                    self._raise_no_usable(skipped)
                if len(written) == len(records):
                    _write_texts(f, written)
            if len(written) < len(records):
                # Images that failed to decode left unused rows at the end: copy the
                # filled rows into a file of the right length.
                with files.atomic_path(tmp) as packed:
                    _copy_images(tmp, packed, len(written), self.size)
                    with h5py.File(packed, "r+") as f:
                        _write_texts(f, written)
        skipped.sort()
        return {
            "out": out_path,
            "written": len(written),
            "skipped": len(skipped),
            "skipped_lines": skipped,
        }

    def _raise_no_usable(self, skipped):
        first = f", first: line {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise ValueError(
            f"{self.captions_path}: no usable example ({len(skipped)} bad line(s){first})."
        )

    def _bad(self, line_number, problem, skipped, error=ValueError):
        """Raises for a bad line, or records it when skipping."""
        if self.on_bad == "error":
            raise error(
                f"{self.captions_path}:{line_number}: {problem}. "
                "Fix the line or pass on_bad='skip' to leave such lines out."
            )
        skipped.append((line_number, problem))

    def _read_records(self, skipped):
        """Parses and checks every line; returns the good ones as `_Record`s."""
        if not os.path.isfile(self.captions_path):
            raise FileNotFoundError(
                f"Captions file not found: {self.captions_path}. Expected one JSON object per "
                'line, e.g. {"image": "relative/path.jpg", "text": "a red dress", "id": 1}.'
            )
        records = []
        with open(self.captions_path, "rb") as f:
            for line_number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                record, problem, error = self._parse_line(line_number, raw)
                if problem:
                    self._bad(line_number, problem, skipped, error)
                else:
                    records.append(record)
        return records

    def _parse_line(self, line_number, raw):
        """Returns `(record, None, None)` or `(None, problem, exception class)`."""
        try:
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            return None, f"not UTF-8 ({e})", ValueError
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as e:
            return None, f"not JSON ({e})", ValueError
        if not isinstance(entry, dict):
            return None, "not a JSON object with 'image' and 'text'", ValueError
        missing = [key for key in _REQUIRED_KEYS if key not in entry]
        if missing:
            return None, f"missing key(s) {missing}", ValueError
        if not isinstance(entry["image"], str) or not entry["image"].strip():
            return None, f"'image' must be a non-empty path, got {entry['image']!r}", ValueError
        fields = {"text": entry["text"]}
        fields.update({key: entry.get(key, "") for key in _OPTIONAL_TEXT_KEYS})
        encoded = {}
        for key, value in fields.items():
            if not isinstance(value, str):
                return None, f"'{key}' must be a string, got {value!r}", ValueError
            encoded[key], problem = _to_latin1(value)
            if problem:
                return None, f"'{key}' {problem}", ValueError
        if not any(ch.isalnum() for ch in fields["text"]):
            problem = f"empty caption ('text' has no letter or digit: {fields['text']!r})"
            return None, problem, ValueError
        product_id, problem = _product_id(entry.get("id", line_number))
        if problem:
            return None, problem, ValueError
        path = os.path.join(self.image_dir, entry["image"])
        if not os.path.isfile(path):
            return None, f"image file not found: {path}", FileNotFoundError
        # Reading the header is cheap and finds most broken files before any is converted.
        try:
            with Image.open(path):
                pass
        except Exception as e:  # PIL raises many exception types for broken files.
            return None, f"cannot read image {path} ({e})", ValueError
        record = _Record(
            line_number, path, encoded["text"], encoded["name"], encoded["category"], product_id
        )
        return record, None, None

    def _write_images(self, f, records, skipped):
        """Writes the decodable images to consecutive rows; returns their records."""
        written = []
        for record in records:
            try:
                image = _square_image(record.path, self.size)
            except Exception as e:  # PIL raises many exception types for broken files.
                self._bad(record.line_number, f"cannot read image {record.path} ({e})", skipped)
                continue
            f[schema.IMAGE][len(written)] = image
            written.append(record)
            if len(written) % _PROGRESS_EVERY == 0:
                print(f"catalogue: {len(written)}/{len(records)} images", flush=True)
        return written


@dataclasses.dataclass(frozen=True)
class _Record:
    line_number: int
    path: str
    text: bytes
    name: bytes
    category: bytes
    product_id: int


def _to_latin1(text):
    """Returns `(latin-1 bytes, None)` or `(None, problem)`."""
    # NFC, not NFKC: NFKC would turn latin-1 characters such as "½" into ones it lacks.
    text = unicodedata.normalize("NFC", text).translate(_TO_LATIN1).strip()
    try:
        return text.encode("latin-1"), None
    except UnicodeEncodeError:
        others = sorted({ch for ch in text if ord(ch) > 0xFF})
        return None, f"has characters latin-1 cannot store: {''.join(others)!r}"


def _product_id(value):
    """Returns `(int id, None)` or `(None, problem)` for an int or a digit string."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"'id' must be an integer or a digit string, got {value!r}"
    if not 0 <= value <= _INT64_MAX:
        return None, f"'id' must be between 0 and {_INT64_MAX}, got {value}"
    return value, None


def _square_image(path, size):
    """Loads an image as (size, size, 3) uint8: RGB on white, aspect kept, centred."""
    with Image.open(path) as image:
        # Phone photos store their rotation in EXIF instead of in the pixels.
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            image = image.convert("RGB")
    width, height = image.size
    scale = size / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(image, ((size - new_size[0]) // 2, (size - new_size[1]) // 2))
    return np.asarray(canvas)


def _write_texts(f, records):
    for dataset, key in (
        (schema.DESCRIPTION, "text"),
        (schema.NAME, "name"),
        (schema.CATEGORY, "category"),
    ):
        f[dataset][:, 0] = np.array([getattr(r, key) for r in records], dtype=object)
    f[schema.PRODUCT_ID][:, 0] = np.array([r.product_id for r in records], dtype=np.int64)


def _copy_images(src_path, dst_path, num, size):
    """Creates schema file `dst_path` holding the first `num` images of `src_path`."""
    with h5py.File(src_path, "r") as src, schema.create(dst_path, num, size) as dst:
        for start in range(0, num, _COPY_BLOCK):
            stop = min(start + _COPY_BLOCK, num)
            dst[schema.IMAGE][start:stop] = src[schema.IMAGE][start:stop]
