"""The benchmarks run end to end at tiny size and report positive, finite numbers.

`benchmarks/input_pipeline.py` and `benchmarks/serving.py` are not tests;
this runs each `run` and `report` on the `smoke` preset with a few batches /
requests so they cannot rot, and checks their command lines' validation.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import held_out_words
from benchmarks import input_pipeline
from benchmarks import serving

pytestmark = pytest.mark.slow

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_positive_finite(values):
    for name, value in values.items():
        assert math.isfinite(value) and value > 0, (name, value)


def test_input_pipeline_benchmark(tmp_path):
    results = input_pipeline.run(
        "smoke", num_batches=2, repeats=2, warm_up=1, hdf5_examples=32, image_size=64,
        data_dir=str(tmp_path / "embedded"), step_examples_per_second=10,
    )
    printed = input_pipeline.report(results)

    assert list(results["sources"]) == list(input_pipeline.SOURCES)
    assert_positive_finite({"baseline_rss_mb": results["baseline_rss_mb"]})
    for source, result in results["sources"].items():
        assert_positive_finite({key: result[key] for key in (
            "examples_per_second", "min", "max", "peak_rss_mb", "step_ratio")})
        assert result["min"] <= result["examples_per_second"] <= result["max"]
        assert len(result["runs"]) == 2
        assert result["step_ratio"] == pytest.approx(result["examples_per_second"] / 10)
        assert f"{source}: {result['step_ratio']:.1f}x the training step's 10 examples/s" in printed
    assert results["sources"]["hdf5"]["image_size"] == 64
    assert results["sources"]["hdf5"]["examples"] == 32
    assert results["sources"]["embedded"]["batch_size"] == 4


def test_serving_benchmark():
    results = serving.run(
        preset="smoke", batch_sizes=(1, 2), clients=2, requests=2, repeats=2, warm_up=1
    )
    printed = serving.report(results)

    rows = {(row["path"], row["clients"], row["batch_size"]): row for row in results["rows"]}
    assert set(rows) == {
        (path, clients, batch) for path, clients in (("in-process", 1), ("gRPC", 1), ("gRPC", 2))
        for batch in (1, 2)
    }
    for (path, clients, batch), row in rows.items():
        assert row["requests"] == clients * 2 * 2
        assert_positive_finite({key: row[key] for key in (
            "p50_ms", "p95_ms", "p99_ms", "requests_per_second", "requests_per_second_min",
            "requests_per_second_max", "images_per_second")})
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["images_per_second"] == pytest.approx(row["requests_per_second"] * batch)
    assert results["preset"] == "smoke"
    assert results["target_met"] is None
    assert "set for the demo preset; this export's preset: smoke" in printed


def test_input_pipeline_benchmark_times_the_training_step_itself(capsys):
    rate = input_pipeline.measure_step("smoke")

    assert math.isfinite(rate) and rate > 0
    assert "smoke GAN step: " in capsys.readouterr().out


def test_hdf5_source_crops_and_flips_like_fashion_gen_training(tmp_path):
    from fashion_t2i.config import get_preset

    demo = get_preset("demo")
    assert not demo.data.augment
    hdf5 = input_pipeline.source_config(
        demo, "hdf5", str(tmp_path), hdf5_path=str(tmp_path / "given.h5")
    )
    assert hdf5.data.augment and hdf5.data.train_path.endswith("given.h5")
    embedded = input_pipeline.source_config(demo, "embedded", str(tmp_path), data_dir="d")
    assert not embedded.data.augment and embedded.data.fashion_mnist_dir == "d"


@pytest.mark.parametrize(
    "module, flag, message",
    [
        ("benchmarks.input_pipeline", "--sources=parquet", "--sources"),
        ("benchmarks.input_pipeline", "--batches=0", "--batches"),
        ("benchmarks.serving", "--preset=tiny", "--preset"),
        ("benchmarks.serving", "--batch_sizes=0", "--batch_sizes"),
        ("benchmarks.serving_load", "--threads=0", "--threads"),
        ("benchmarks.reader_memory", "--rows=500", "at least two different --rows"),
        ("benchmarks.train_step", "--mixed_precision=int8", "--mixed_precision"),
        ("benchmarks.trunk_step", "--mixed_precision=int8", "--mixed_precision"),
        ("benchmarks.independent_judge", "--offset=100", "overlaps the 12000 training images"),
        ("benchmarks.held_out_words", "--substitute=azure=sky blue",
         "--substitute needs --words=held_out_captions"),
    ],
)
def test_command_lines_reject_bad_values_before_any_work(module, flag, message):
    result = subprocess.run(
        [sys.executable, "-m", module, flag], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )

    assert result.returncode == 1
    assert message in result.stderr


@pytest.mark.parametrize(
    "module",
    ["benchmarks.held_out_words", "benchmarks.attention_maps", "benchmarks.independent_judge"],
)
def test_a_workdir_without_a_run_is_a_clear_error(module, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", module, f"--workdir={tmp_path / 'nothing'}"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )

    assert result.returncode == 1
    assert "error: FileNotFoundError:" in result.stderr
    assert "Traceback" not in result.stderr


def test_held_out_word_captions_name_each_word_with_every_other_attribute():
    from fashion_t2i.data import attributes

    colour = held_out_words.captions_of("colour")
    assert [word for word, _, _ in colour] == list(attributes.HELD_OUT_COLOUR_WORDS)
    word, value, texts = colour[0]
    assert (word, value) == ("crimson", 0)
    assert texts[:2] == ["a crimson t-shirt", "crimson trousers"]
    assert colour[1][2][0] == "an indigo t-shirt"
    assert len(texts) == len(attributes.CLASS_NAMES)
    classes = held_out_words.captions_of("class")
    assert [(word, value) for word, value, _ in classes] == [
        ("jeans", 1), ("cardigan", 2), ("gown", 3), ("blazer", 4), ("slippers", 5),
        ("tunic", 6), ("purse", 8),
    ]
    assert classes[0][2][:2] == ["red jeans", "navy blue jeans"]
    assert classes[1][2][4] == "an olive cardigan"
    # Other colour words, such as the training words that name one colour, in their order.
    sources = held_out_words.captions_of("colour", {"kelly": 3, "apricot": 6})
    assert [(word, value, texts[1]) for word, value, texts in sources] == [
        ("kelly", 3, "kelly trousers"), ("apricot", 6, "apricot trousers"),
    ]
    assert sources[1][2][0] == "an apricot t-shirt"


def test_held_out_word_report_counts_what_is_drawn():
    report = held_out_words.report({
        "colour": [("crimson", 0, np.array([0, 0, 0, 5]))],
        "class": [("jeans", 1, np.array([3, 3, 1, 3])), ("gown", 3, np.array([3, 3, 3, 3]))],
    })
    assert "crimson    (red) -> 0.75 of 4, red 0.75" in report
    assert "jeans      (Trouser) -> 0.25 of 4, Dress 0.75" in report
    assert "mean over words 0.625" in report  # (0.25 + 1.0) / 2
    # A substituted row is shown but left out of the mean over words.
    report = held_out_words.report({
        "colour": [("azure", 2, np.array([10, 10, 2, 2])),
                   ("azure -> sky blue", 2, np.array([2, 2, 2, 2]))],
    })
    assert "azure -> sky blue (sky blue) -> 1.00 of 4, sky blue 1.00" in report
    assert "mean over words 0.500" in report


def test_held_out_captions_are_grouped_by_word_and_substituted_whole_words():
    captions = [
        "A red tee.",                          # 0: in-vocabulary
        "Azure tunic. Azurene lining.",        # 1: azure (colour), tunic (class)
        "This purse is AZURE.",                # 2: azure (colour), purse (class)
        "An indigo gown.",                     # 3
    ]
    rows = held_out_words.validation_captions(
        captions, np.array([1, 2, 3]), [("azure", "sky blue"), ("tunic", "shirt")]
    )

    assert [(label, value) for label, value, _ in rows["colour"]] == [
        ("indigo", 1), ("azure", 2), ("azure -> sky blue", 2)
    ]
    assert rows["colour"][2][2] == ["sky blue tunic. Azurene lining.", "This purse is sky blue."]
    assert [(label, value, texts) for label, value, texts in rows["class"]] == [
        ("gown", 3, ["An indigo gown."]),
        ("tunic", 6, ["Azure tunic. Azurene lining."]),
        ("tunic -> shirt", 6, ["Azure shirt. Azurene lining."]),
        ("purse", 8, ["This purse is AZURE."]),
    ]


@pytest.mark.parametrize(
    "entries, message",
    [(["azure"], "expected 'word=replacement'"), (["azure= "], "expected"),
     (["blue=sky blue"], "'blue' is not a held-out synonym")],
)
def test_bad_substitutes_are_refused(entries, message):
    assert held_out_words.parse_substitutes(["Azure=sky blue"]) == [("azure", "sky blue")]
    with pytest.raises(ValueError, match=message):
        held_out_words.parse_substitutes(entries)


def test_independent_judge_reports_both_judges_per_run():
    from benchmarks import independent_judge

    accuracy = {"class": 0.5, "colour": 0.75, "pattern": 1.0}
    printed = independent_judge.report({
        "judge": accuracy,
        "real": {"own": accuracy, "independent": dict(accuracy, **{"class": 0.625})},
        "runs": {"runs/a": {"own": dict(accuracy, **{"class": 0.8}), "independent": accuracy}},
    })
    assert "real images of the captions: own class 0.500" in printed
    assert "independent class 0.625, colour 0.750" in printed
    assert "runs/a: class 0.800 / 0.500, colour 0.750 / 0.750, pattern 1.000 / 1.000" in printed
    independent_judge.check_rows(12_000, 1)
    with pytest.raises(ValueError, match="overlaps"):
        independent_judge.check_rows(11_999, 100)


def test_unseen_words_choice_scores_the_share_of_the_right_value():
    from benchmarks import unseen_words_choice

    values = unseen_words_choice.single_word_values((("red", "dark red"), ("navy blue", "dark blue")))
    assert values == {"red": 0, "navy": 1, "blue": 1}  # "dark" names both: left out
    # A training caption's "sneakers" names the sneaker: the plural is a synonym of its class.
    groups = unseen_words_choice.class_groups()
    assert "sneakers" in groups[7] and "ankle boots" in groups[9] and "tee" in groups[0]
    tokens = ["[PAD]", "[UNK]", "red", "scarlet", "blue", "cotton"]
    vectors = np.array([[0, 0], [0, 0], [1, 0], [1, 0.1], [0, 1], [0.2, 1]], dtype=float)
    values = {"red": 0, "scarlet": 0, "blue": 1}
    seen = {"red", "scarlet", "blue", "cotton"}
    # Left out, scarlet's nearest is red (right); red's nearest is scarlet (right);
    # blue's nearest is cotton (no value): 2 of 3.
    share, count = unseen_words_choice.right_share(
        tokens, vectors, seen, values, 2, None, (1, 0.05, 1, 10.0)
    )
    assert (share, count) == (pytest.approx(2 / 3), 3)
    # Colour names read as the nearest colour source: every word is right
    # among all four; with navy no source, blue left out reads as scarlet.
    tokens = ["[PAD]", "[UNK]", "red", "scarlet", "blue", "navy"]
    values = {"red": 0, "scarlet": 0, "blue": 1, "navy": 1}
    colours = {w: np.full(3, lab) for w, lab in zip(values, (0.0, 1.0, 10.0, 11.0))}
    vectors = np.eye(6)[:, :4]
    setting = (1, 0.05, 1, 10.0)
    assert unseen_words_choice.right_share(
        tokens, vectors, set(values), values, 2, colours, setting
    ) == (pytest.approx(1.0), 4)
    assert unseen_words_choice.right_share(
        tokens, vectors, set(values), values, 2, colours, setting,
        colour_sources={"red", "scarlet", "blue"},
    ) == (pytest.approx(3 / 4), 4)
    # Blue's colour nearer scarlet's: left out, it reads as scarlet (wrong)
    # unless its WordNet synonym "dark_navy" names navy, read before the table.
    from fashion_t2i.text import word_senses

    colours = {w: np.full(3, lab) for w, lab in zip(values, (0.0, 1.0, 3.0, 11.0))}
    senses = {"blue": (word_senses.Sense("colour", ("dark_navy",), ()),)}
    for with_senses, share in ((None, 3 / 4), (senses, 1.0)):
        assert unseen_words_choice.right_share(
            tokens, vectors, set(values), values, 2, colours, setting, senses=with_senses
        ) == (pytest.approx(share), 4)
    # Or unless the colour of the images each source names puts navy nearest.
    images = {"red": np.full(3, 0.0), "scarlet": np.full(3, 0.0), "navy": np.full(3, 4.0),
              "blue": np.full(3, 4.0)}
    assert unseen_words_choice.right_share(
        tokens, vectors, set(values), values, 2, colours, setting, source_colours=images
    ) == (pytest.approx(1.0), 4)


def test_trunk_step_benchmark_times_the_pretraining_and_restores_the_policy():
    import keras

    from benchmarks import trunk_step

    before = keras.mixed_precision.global_policy().name
    lines = []
    result = trunk_step.benchmark(
        preset="smoke", steps=1, repeats=2, mixed_precision="bfloat16", batch_size=2,
        matmul_size=64, progress=lines.append,
    )
    assert keras.mixed_precision.global_policy().name == before
    assert result["batch_size"] == 2 and result["input_size"] == 75
    assert len(result["ms_per_step_runs"]) == 2 and result["ms_per_step"] > 0
    assert min(result["ms_per_step_runs"]) <= result["ms_per_step"] <= max(
        result["ms_per_step_runs"]
    )
    assert result["images_per_s"] == pytest.approx(2 / (result["ms_per_step"] / 1e3))
    assert lines[0].startswith("warm-up done") and lines[-1].startswith("run 2/2")
    assert "ms/step" in trunk_step.report(result)[1]
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        trunk_step.benchmark(mixed_precision="int8")
