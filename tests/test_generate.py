"""fashion_t2i.generate on a smoke workdir: the PNG grid and the notes on unknown and cut words.

The workdir holds what `train` leaves for `generate` (config, vocabulary, a
GAN checkpoint of the text encoder and EMA generator) of an untrained smoke
model, so no training step runs.
"""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i import files
from fashion_t2i.config import get_preset
from fashion_t2i.generate import word_notes
from fashion_t2i.text import unseen_words
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text_to_image import TextToImage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = get_preset("smoke")  # max_words 8
CAPTIONS = ["a red striped dress", "a navy blue plain ankle boot"]
# 11 words: the first 8 are used.
LONG_TEXT = "a red striped dress navy blue plain ankle boot with buttons"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run"))
    CONFIG.save(workdir)
    vocabulary_path = os.path.join(workdir, vocabulary_lib.FILENAME)
    vocabulary_lib.save_vocabulary(vocabulary_lib.build_vocabulary(CAPTIONS), vocabulary_path)
    model = TextToImage.from_config(CONFIG, vocabulary_path)
    checkpointing.variable_checkpoint(
        text_encoder=model.text_encoder, generator_ema=model.generator
    ).save(os.path.join(workdir, "gan", "ckpt"))
    return workdir


@pytest.fixture(scope="module")
def tokenizer(workdir):
    return TextToImage.from_workdir(workdir).tokenizer


def test_notes_name_the_unknown_word(tokenizer):
    assert word_notes(tokenizer, ["a zzqxv dress"]) == [
        "a zzqxv dress: unknown words: zzqxv (drawn as [UNK])"
    ]


def test_notes_name_the_words_after_max_words(tokenizer):
    assert word_notes(tokenizer, [LONG_TEXT]) == [
        f"{LONG_TEXT}: words after the first 8 were not used: boot, with, buttons"
    ]


def test_notes_give_unknown_and_cut_words_in_one_line_and_nothing_for_known_words(tokenizer):
    text = "A Crimson dress, striped, navy blue plain ankle boot with buttons"
    notes = word_notes(tokenizer, ["a red dress", text])

    assert notes == [
        None,
        f"{text}: unknown words: crimson (drawn as [UNK]); "
        "words after the first 8 were not used: boot, with, buttons",
    ]


def test_notes_say_what_words_no_caption_used_read_as(tokenizer):
    read_as = {"navy": "red", "dress": "frock", "boot": "sandal"}
    notes = word_notes(tokenizer, ["a navy dress, navy", "a zzqxv boot", "a red dress"], read_as)

    assert notes == [
        "a navy dress, navy: words no training caption used, read as: navy as red, "
        "dress as frock",
        "a zzqxv boot: unknown words: zzqxv (drawn as [UNK]); words no training caption "
        "used, read as: boot as sandal",
        "a red dress: words no training caption used, read as: dress as frock",
    ]


@pytest.mark.slow
def test_command_line_prints_one_line_per_text_with_something_to_say(workdir, tmp_path):
    out = str(tmp_path / "grid.png")
    files.write_json(
        os.path.join(workdir, unseen_words.READ_AS_FILENAME),
        {"unseen_words": "vectors", "read_as": {"navy": "red"}},
    )
    result = subprocess.run(
        [sys.executable, "-m", "fashion_t2i.generate", f"--workdir={workdir}",
         "--text=a zzqxv dress", "--text=a red dress", f"--text={LONG_TEXT}",
         "--text=a navy dress", "--num_samples=2", f"--out={out}"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "a zzqxv dress: unknown words: zzqxv (drawn as [UNK])",
        f"{LONG_TEXT}: words no training caption used, read as: navy as red; "
        "words after the first 8 were not used: boot, with, buttons",
        "a navy dress: words no training caption used, read as: navy as red",
        f"wrote {out} (4 captions x 2 samples)",
    ]
    assert tf.io.decode_png(tf.io.read_file(out)).shape == (4 * 32, 2 * 32, 3)
