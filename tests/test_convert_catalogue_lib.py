"""Tests of CatalogueConverter on a few images written with PIL."""

import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fashion_t2i.data import schema
from fashion_t2i.data.convert_catalogue_lib import CatalogueConverter

REPO = pathlib.Path(__file__).resolve().parents[1]
SIZE = 16
RED = (220, 20, 20)
BLUE = (20, 40, 200)


def jpeg_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def catalogue(tmp_path):
    """A folder with a wide RGB PNG, a half-transparent RGBA PNG and a JPEG in a sub-folder."""
    directory = tmp_path / "shop"
    (directory / "shoes").mkdir(parents=True)
    Image.new("RGB", (40, 20), RED).save(directory / "wide.png")
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = BLUE + (255,)  # opaque left half; the right half is fully transparent
    Image.fromarray(rgba, "RGBA").save(directory / "half.png")
    (directory / "shoes" / "grey.jpg").write_bytes(jpeg_bytes(np.full((30, 30, 3), 90, np.uint8)))
    # Noise makes the scan data long, so half the file keeps a complete header:
    # it opens, but does not decode.
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    truncated = jpeg_bytes(noise)
    (directory / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    with Image.open(directory / "truncated.jpg") as image:
        assert image.size == (64, 64)
    (directory / "garbage.jpg").write_bytes(b"this is not an image")
    return directory


GOOD_LINES = [
    {
        "image": "wide.png",
        "text": "Robe rouge élégante",
        "id": 17,
        "name": "Robe",
        "category": "DRESSES",
    },
    {"image": "half.png", "text": "Blue half-transparent bag", "id": "0042"},
    {"image": "shoes/grey.jpg", "text": "Grey sneaker"},
]


def write_captions(directory, lines, name="captions.jsonl"):
    """Writes `lines` (dicts as JSON, bytes as they are) one per line."""
    with open(directory / name, "wb") as f:
        for line in lines:
            if not isinstance(line, bytes):
                line = json.dumps(line, ensure_ascii=False).encode("utf-8")
            f.write(line)
            f.write(b"\n")
    return directory / name


def test_converts_images_and_captions(tmp_path, catalogue):
    write_captions(catalogue, GOOD_LINES[:1] + [b"   "] + GOOD_LINES[1:])
    out = tmp_path / "out" / "shop.h5"
    summary = CatalogueConverter(str(catalogue), size=SIZE).convert(str(out))
    assert summary == {"out": str(out), "written": 3, "skipped": 0, "skipped_lines": []}
    f, num = schema.open_checked(str(out))
    with f:
        assert num == 3
        images = f[schema.IMAGE][()]
        captions = [c.decode("latin-1") for c in f[schema.DESCRIPTION][:, 0]]
        names = [n.decode("latin-1") for n in f[schema.NAME][:, 0]]
        categories = [c.decode("latin-1") for c in f[schema.CATEGORY][:, 0]]
        ids = f[schema.PRODUCT_ID][:, 0]
        assert f[schema.DESCRIPTION][0, 0] == "Robe rouge élégante".encode("latin-1")
    assert images.shape == (3, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert captions == ["Robe rouge élégante", "Blue half-transparent bag", "Grey sneaker"]
    assert names == ["Robe", "", ""]
    assert categories == ["DRESSES", "", ""]
    # 17 as given, "0042" parsed, no id: its line number (4, the blank line 2 counts).
    np.testing.assert_array_equal(ids, [17, 42, 4])
    wide = images[0].astype(int)
    # 40x20 fits as 16x8, centred: white bands above and below, red in the middle.
    assert wide[:4].min() == 255 and wide[-4:].min() == 255
    assert np.abs(wide[5:11] - RED).max() <= 3
    half = images[1].astype(int)
    assert np.abs(half[:, :6] - BLUE).max() <= 3
    assert half[:, 10:].min() >= 250  # transparent pixels composite to white
    assert np.abs(images[2].astype(int) - 90).max() <= 4
    assert [p.name for p in out.parent.iterdir()] == ["shop.h5"]


def test_typographic_characters_become_ascii(tmp_path, catalogue):
    text = "Women\u2019s \u201cred\u201d dress \u2014 50\u00bd\u2026"
    write_captions(catalogue, [{"image": "wide.png", "text": text}])
    out = tmp_path / "shop.h5"
    CatalogueConverter(str(catalogue), size=SIZE).convert(str(out))
    f, _ = schema.open_checked(str(out))
    with f:
        stored = f[schema.DESCRIPTION][0, 0].decode("latin-1")
    assert stored == "Women's \"red\" dress - 50\u00bd..."


BAD_LINES = [
    (b'{"image": "wide.png", "text": ', ValueError, "not JSON"),
    (b'{"image": "wide.png", "text": "caf\xe9"}', ValueError, "not UTF-8"),
    (b'["wide.png", "a red dress"]', ValueError, "not a JSON object"),
    ({"image": "wide.png"}, ValueError, r"missing key\(s\) \['text'\]"),
    ({"text": "a red dress"}, ValueError, r"missing key\(s\) \['image'\]"),
    ({"image": "wide.png", "text": "   "}, ValueError, "empty caption"),
    ({"image": "wide.png", "text": " ... "}, ValueError, "empty caption"),
    ({"image": "wide.png", "text": 5}, ValueError, "'text' must be a string"),
    ({"image": "wide.png", "text": "a dress", "id": "12a"}, ValueError, "'id' must be an integer"),
    ({"image": "wide.png", "text": "a dress", "id": True}, ValueError, "'id' must be an integer"),
    ({"image": "wide.png", "text": "dress \u6f22"}, ValueError, "latin-1 cannot store"),
    ({"image": "nope.png", "text": "a dress"}, FileNotFoundError, "image file not found"),
    ({"image": "garbage.jpg", "text": "a dress"}, ValueError, "cannot read image"),
    ({"image": "truncated.jpg", "text": "a dress"}, ValueError, "cannot read image"),
]


@pytest.mark.parametrize("line, error, message", BAD_LINES)
def test_bad_line_raises_naming_file_and_line(tmp_path, catalogue, line, error, message):
    captions = write_captions(catalogue, [GOOD_LINES[0], line, GOOD_LINES[1]])
    out = tmp_path / "shop.h5"
    out.write_bytes(b"previous output")
    with pytest.raises(error, match=message) as raised:
        CatalogueConverter(str(catalogue), size=SIZE).convert(str(out))
    assert f"{captions}:2:" in str(raised.value)
    assert "on_bad='skip'" in str(raised.value)
    # The previous file is untouched and no temporary file is left behind.
    assert out.read_bytes() == b"previous output"
    assert [p.name for p in tmp_path.iterdir()] == ["shop", "shop.h5"]


def test_skip_mode_counts_and_reports(tmp_path, catalogue):
    lines = [GOOD_LINES[0]] + [line for line, _, _ in BAD_LINES] + GOOD_LINES[1:]
    write_captions(catalogue, lines)
    out = tmp_path / "shop.h5"
    summary = CatalogueConverter(str(catalogue), size=SIZE, on_bad="skip").convert(str(out))
    assert summary["written"] == 3
    assert summary["skipped"] == len(BAD_LINES)
    assert [n for n, _ in summary["skipped_lines"]] == list(range(2, 2 + len(BAD_LINES)))
    assert "cannot read image" in summary["skipped_lines"][-1][1]
    f, num = schema.open_checked(str(out))
    with f:
        assert num == 3
        captions = [c.decode("latin-1") for c in f[schema.DESCRIPTION][:, 0]]
        ids = f[schema.PRODUCT_ID][:, 0]
        images = f[schema.IMAGE][()]
    assert captions == ["Robe rouge élégante", "Blue half-transparent bag", "Grey sneaker"]
    np.testing.assert_array_equal(ids, [17, 42, len(lines)])
    # The rows left by undecodable images were dropped, not left blank.
    assert np.abs(images[2].astype(int) - 90).max() <= 4
    assert [p.name for p in tmp_path.iterdir()] == ["shop", "shop.h5"]


def test_skip_mode_with_nothing_usable(tmp_path, catalogue):
    write_captions(catalogue, [{"image": "garbage.jpg", "text": "a dress"}, {"image": "wide.png"}])
    with pytest.raises(ValueError, match="no usable example"):
        CatalogueConverter(str(catalogue), on_bad="skip").convert(str(tmp_path / "shop.h5"))
    assert not (tmp_path / "shop.h5").exists()


def test_missing_inputs_and_bad_arguments(tmp_path, catalogue):
    with pytest.raises(FileNotFoundError, match="Captions file not found: .*captions.jsonl"):
        CatalogueConverter(str(catalogue)).convert(str(tmp_path / "shop.h5"))
    with pytest.raises(FileNotFoundError, match="Image directory not found"):
        CatalogueConverter(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"on_bad must be one of .*'skip'.*got 'ignore'"):
        CatalogueConverter(str(catalogue), on_bad="ignore")
    with pytest.raises(ValueError, match="size must be >= 1"):
        CatalogueConverter(str(catalogue), size=0)


def test_explicit_captions_path_and_command_line(tmp_path, catalogue):
    lines = [GOOD_LINES[0], {"image": "wide.png"}]
    captions = write_captions(catalogue, lines, name="other.jsonl")
    out = tmp_path / "shop.h5"
    command = [
        sys.executable,
        "-m",
        "fashion_t2i.data.convert_catalogue",
        f"--image_dir={catalogue}",
        f"--captions={captions}",
        f"--out={out}",
        "--size=8",
        "--on_bad=skip",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"skipped {captions}:2: missing key(s) ['text']" in result.stdout
    assert "wrote 1 examples" in result.stdout
    f, num = schema.open_checked(str(out))
    with f:
        assert num == 1 and f[schema.IMAGE].shape == (1, 8, 8, 3)
