"""A shop's own catalogue, start to finish: README's "Your own catalogue" walk-through.

A catalogue of 50 drawn products (42 to train, 8 to validate; 3 poses each,
a few shapes in a few colours) with accented descriptions ("crêpe",
"appliqué", "naïve") goes through the converter, `--preset=catalogue` at
smoke steps (`--phase=all`), generate, export and the server. The validation
file has 8 distinct products, fewer than R-precision's 100 candidates: both
phases must run, evaluate with the candidates there are and checkpoint
their last step. The start-up checks of too small validation files run
in-process, before any step.
"""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw

from fashion_t2i import train_lib
from fashion_t2i.config import get_preset
from fashion_t2i.data import schema
from fashion_t2i.data.convert_catalogue_lib import CatalogueConverter
from summary_fixtures import summary_tags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROCESS_TIMEOUT = 300
TRAIN_PRODUCTS = 42
VALIDATION_PRODUCTS = 8
POSES = 3
COLOURS = {
    "red": (200, 30, 30), "navy": (20, 30, 110), "olive": (110, 120, 40), "ochre": (200, 150, 40)
}
SHAPES = ("dress", "skirt", "coat", "bag", "top")
# Materials as shops write them: accents latin-1 can store.
MATERIALS = ("crêpe", "appliqué", "naïve print", "plissé", "cotton")
# The smoke sizes and steps of the walk-through's training command.
SMOKE_FLAGS = [
    "--batch_size=4", "--damsm_steps=2", "--gan_steps=2", "--checkpoint_every=100",
    "--log_every=1", "--image_every=2", "--eval_every=2",
]


def draw_product(shape, colour, pose, size=48):
    """A product drawn on white: one of SHAPES in one colour, shifted and scaled by pose."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    scale = (1.0, 0.8, 0.9)[pose % 3]
    dx = (0, 4, -4)[pose % 3] + pose // 3

    def box(x0, y0, x1, y1):
        c = size / 2
        return [(c + (x - c) * scale + dx, c + (y - c) * scale) for x, y in ((x0, y0), (x1, y1))]

    if shape == "dress":
        draw.polygon([(18 + dx, 6), (30 + dx, 6), (40 + dx, 42), (8 + dx, 42)], fill=colour)
    elif shape == "skirt":
        draw.polygon([(16 + dx, 18), (32 + dx, 18), (40 + dx, 36), (8 + dx, 36)], fill=colour)
    elif shape == "coat":
        draw.rectangle(box(12, 6, 36, 44), fill=colour)
        draw.rectangle(box(4, 8, 44, 20), fill=colour)
    elif shape == "bag":
        draw.rectangle(box(10, 20, 38, 42), fill=colour)
        draw.arc(box(16, 8, 32, 30), 180, 360, fill=colour, width=3)
    else:
        draw.rectangle(box(8, 10, 40, 18), fill=colour)
        draw.rectangle(box(18, 10, 30, 40), fill=colour)
    if pose % 3 == 2:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def product_caption(product):
    shape = SHAPES[product % len(SHAPES)]
    colour = list(COLOURS)[(product // len(SHAPES)) % len(COLOURS)]
    material = MATERIALS[product % len(MATERIALS)]
    # Curly quotes and an en dash: the converter writes them as ASCII.
    return shape, colour, f"{colour} {material} {shape} \u201cmaison\u201d \u2013 product {product}"


def write_catalogue(directory, products, poses=POSES, extra_lines=(), captions="captions.jsonl"):
    """Images and a captions file (UTF-8 with a BOM, as Windows editors write it)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for product in products:
        shape, colour, text = product_caption(product)
        for pose in range(poses):
            name = f"{product}_{pose}.png"
            draw_product(shape, COLOURS[colour], pose).save(directory / name)
            entry = {"image": name, "text": text, "id": 1000 + product}
            lines.append(json.dumps(entry, ensure_ascii=False).encode("utf-8"))
    with open(directory / captions, "wb") as f:
        f.write(b"\xef\xbb\xbf" + b"\n".join([*lines, *extra_lines]) + b"\n")
    return directory


def run(args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The walk-through: convert, train both phases, generate, export."""
    root = tmp_path_factory.mktemp("shop")
    # A line saved as latin-1 instead of UTF-8: the converter skips and reports it.
    latin1_line = json.dumps({"image": "0_0.png", "text": "robe crêpe"}, ensure_ascii=False)
    # One folder of images; the held-out products' lines in validation.jsonl.
    shop_dir = write_catalogue(
        root / "shop", range(TRAIN_PRODUCTS), extra_lines=[latin1_line.encode("latin-1")]
    )
    write_catalogue(
        shop_dir, range(TRAIN_PRODUCTS, TRAIN_PRODUCTS + VALIDATION_PRODUCTS),
        captions="validation.jsonl",
    )
    train_path = str(root / "data" / "catalogue_train.h5")
    validation_path = str(root / "data" / "catalogue_validation.h5")
    converted = run(["fashion_t2i.data.convert_catalogue", f"--image_dir={shop_dir}",
                     f"--out={train_path}", "--size=64", "--on_bad=skip"])
    run(["fashion_t2i.data.convert_catalogue", f"--image_dir={shop_dir}",
         f"--captions={shop_dir / 'validation.jsonl'}", f"--out={validation_path}", "--size=64"])
    workdir = str(root / "runs" / "shop")
    trained = run(["fashion_t2i.train", "--preset=catalogue", f"--workdir={workdir}",
                   f"--train_path={train_path}", f"--validation_path={validation_path}",
                   *SMOKE_FLAGS])
    grid = str(root / "grid.png")
    run(["fashion_t2i.generate", f"--workdir={workdir}", "--text=navy crêpe dress",
         "--text=ochre plissé bag", "--num_samples=2", f"--out={grid}"])
    base = os.path.join(workdir, "export")
    run(["export", f"--workdir={workdir}", f"--base_dir={base}", "--model_name=fashion_t2i"])
    return {
        "workdir": workdir, "train_path": train_path, "validation_path": validation_path,
        "converted": converted.stdout, "trained": trained.stdout + trained.stderr,
        "grid": grid, "export": os.path.join(base, "fashion_t2i"),
    }


@pytest.mark.slow
def test_converter_keeps_accents_as_latin1_and_skips_a_latin1_line(shop):
    assert f"wrote {TRAIN_PRODUCTS * POSES} examples" in shop["converted"]
    assert "skipped 1" in shop["converted"] and "not UTF-8" in shop["converted"]
    with h5py.File(shop["train_path"], "r") as f:
        first = bytes(f[schema.DESCRIPTION][0, 0])
    assert first == "red crêpe dress \"maison\" - product 0".encode("latin-1")
    vocabulary = open(os.path.join(shop["workdir"], "vocabulary.txt"), encoding="utf-8").read()
    for word in ("crêpe", "appliqué", "naïve", "plissé"):
        assert word in vocabulary.split()


@pytest.mark.slow
def test_both_phases_run_evaluate_with_the_candidates_there_are_and_save_the_last_step(shop):
    output = shop["trained"]
    # 8 products x 3 poses: 21 other-product captions, so top-1 of 22.
    assert "validation R-precision ranks among 22 captions" in output
    assert "validation R-precision (top-1 of 22)" in output
    assert "Traceback" not in output
    for phase in ("damsm", "gan"):
        # --checkpoint_every=100: the last step's checkpoint is the phase end's.
        latest = tf.train.latest_checkpoint(os.path.join(shop["workdir"], phase))
        assert latest is not None and latest.endswith("ckpt-2"), phase
    tags = summary_tags(os.path.join(shop["workdir"], "logs", "damsm"))
    assert "eval/r_precision_at_22" in tags and "eval/r_precision" not in tags
    with open(os.path.join(shop["workdir"], "damsm_summary.json")) as f:
        assert "r_precision_at_22" in json.load(f)


@pytest.mark.slow
def test_generate_export_and_serve_the_shop_model(shop):
    grid = tf.io.decode_png(tf.io.read_file(shop["grid"])).numpy()
    assert grid.shape == (2 * 64, 2 * 64, 3)
    assert sorted(os.listdir(shop["export"])) == ["1"]

    from serving.client import FashionT2IClient
    from serving.server import PredictionServer

    server = PredictionServer(shop["export"], "fashion_t2i", port=0)
    server.start()
    try:
        client = FashionT2IClient(f"127.0.0.1:{server.port}", "fashion_t2i")
        pngs = client.generate(["navy crêpe dress", "olive naïve print top"], seeds=[1, 2])
        assert [tf.io.decode_png(png).numpy().shape for png in pngs] == [(64, 64, 3)] * 2
        assert client.generate(["navy crêpe dress", "olive naïve print top"], seeds=[1, 2]) == pngs
    finally:
        server.stop()


# Start-up checks: a validation file training cannot evaluate is refused before any step.


def convert(tmp_path, name, products, poses):
    directory = write_catalogue(tmp_path / name, products, poses)
    out = str(tmp_path / f"{name}.h5")
    CatalogueConverter(str(directory), size=16).convert(out)
    return out


def small_config(train_path, validation_path):
    # One step per phase: were the check missing, training would end quickly.
    return get_preset("catalogue").replace(
        data={"train_path": train_path, "validation_path": validation_path, "batch_size": 4},
        train={"damsm_steps": 1, "gan_steps": 1},
    )


def test_validation_file_of_one_product_is_refused_before_any_step(tmp_path):
    train_path = convert(tmp_path, "train", range(4), 2)
    validation_path = convert(tmp_path, "validation", [50], 8)
    workdir = str(tmp_path / "run")

    with pytest.raises(ValueError, match="distinct product") as raised:
        train_lib.train(small_config(train_path, validation_path), workdir, log_fn=print)

    message = str(raised.value)
    assert validation_path in message and "show 1 distinct product" in message
    assert not os.path.exists(os.path.join(workdir, "damsm"))


def test_validation_file_smaller_than_what_the_evaluations_read_is_refused(tmp_path):
    train_path = convert(tmp_path, "train", range(4), 2)
    validation_path = convert(tmp_path, "validation", [50, 51], 2)
    workdir = str(tmp_path / "run")

    with pytest.raises(ValueError, match="has 4 usable examples") as raised:
        train_lib.train(small_config(train_path, validation_path), workdir, log_fn=print)

    assert validation_path in str(raised.value) and "at least 8" in str(raised.value)
    assert not os.path.exists(os.path.join(workdir, "damsm"))
