"""End to end on the smoke preset: train both phases, resume, logs, export, serve."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.config import Config
from summary_fixtures import summary_tags

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, check=True, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    workdir = str(root / "run")
    data_dir = str(root / "data")
    result = run(
        ["fashion_t2i.train", "--preset=smoke", f"--workdir={workdir}", f"--data_dir={data_dir}"]
    )
    return {"root": root, "workdir": workdir, "data_dir": data_dir, "stdout": result.stdout}


def assert_same_image(a, b):
    """The same image up to float rounding of the same graph.

    oneDNN may sum in another order in another process or for another batch
    size, and a float a few ulps from .5 then rounds the other way: a level of
    1 in a handful of pixels, never more. Another seed or text changes most
    pixels.
    """
    difference = np.abs(np.asarray(a, np.int32) - np.asarray(b, np.int32))
    assert difference.max() <= 1, difference.max()
    assert np.mean(difference == 0) >= 0.999, np.mean(difference == 0)


def _event_tags(log_dir):
    """`(scalar tags, image tags)` of a phase's TensorBoard events."""
    tags = summary_tags(log_dir)
    return (
        {tag for tag, plugin in tags.items() if plugin == "scalars"},
        {tag for tag, plugin in tags.items() if plugin == "images"},
    )


def test_both_phases_write_checkpoints_config_and_vocabulary(trained):
    workdir = trained["workdir"]
    assert tf.train.latest_checkpoint(os.path.join(workdir, "damsm")).endswith("ckpt-2")
    assert tf.train.latest_checkpoint(os.path.join(workdir, "gan")).endswith("ckpt-2")
    assert Config.load(workdir).preset == "smoke"
    assert open(os.path.join(workdir, "vocabulary.txt")).readline().strip() == "[PAD]"
    assert "validation R-precision" in trained["stdout"]


def test_tensorboard_logs_hold_every_loss_and_images(trained):
    logs = os.path.join(trained["workdir"], "logs")
    scalars, images = _event_tags(os.path.join(logs, "damsm"))
    for name in ("similarity_loss", "global_loss_1", "global_loss_2", "t2i_loss_1", "t2i_loss_2"):
        assert f"loss/{name}" in scalars
    assert "eval/r_precision" in scalars and "learning_rate/damsm" in scalars
    # The smoke validation data marks held-out-synonym captions: each set's
    # R-precision (among fewer than 100 of its captions) is logged too.
    for caption_set in ("held_out", "in_vocabulary"):
        assert any(tag.startswith(f"eval/{caption_set}/r_precision_at_") for tag in scalars)
    assert "validation R-precision by caption set: in_vocabulary" in trained["stdout"]
    assert "damsm/attention" in images
    assert {"damsm/attention_entropy", "damsm/attention_peak_on_product",
            "damsm/attention_product_area"} <= scalars
    scalars, images = _event_tags(os.path.join(logs, "gan"))
    for name in (
        "generator_loss", "kl_loss", "similarity_loss",
        "generator_adversarial_loss_1", "generator_adversarial_loss_2",
        "discriminator_loss_1", "discriminator_loss_2",
    ):
        assert f"loss/{name}" in scalars
    assert {"eval/similarity_loss", "eval/class_accuracy"} <= scalars
    assert {"eval/diversity_ratio_pixel", "eval/diversity_silhouette_real"} <= scalars
    assert {"gan/samples", "gan/attention", "gan/variations"} <= images


def test_rerun_resumes_at_the_saved_step(trained):
    workdir = trained["workdir"]
    result = run(
        ["fashion_t2i.train", "--preset=smoke", f"--workdir={workdir}",
         f"--data_dir={trained['data_dir']}", "--gan_steps=3", "--eval_every=0",
         "--image_every=0"]
    )
    assert "[damsm] already at step 2" in result.stdout
    assert "[gan] resumed from" in result.stdout and "at step 2" in result.stdout
    assert "[gan] step 3/3" in result.stdout
    assert tf.train.latest_checkpoint(os.path.join(workdir, "gan")).endswith("ckpt-3")


def test_resume_with_another_architecture_is_refused(trained):
    result = run(
        ["fashion_t2i.train", "--preset=smoke", f"--workdir={trained['workdir']}",
         f"--data_dir={trained['data_dir']}", "--similarity=both"],
        check=False,
    )
    assert result.returncode != 0
    assert "another architecture" in result.stderr and "model.similarity" in result.stderr


def test_unknown_flag_value_is_a_usage_error(tmp_path):
    result = run(["fashion_t2i.train", "--preset=nope", f"--workdir={tmp_path}"], check=False)
    assert result.returncode != 0 and "preset" in result.stderr


def test_generate_writes_a_png_grid(trained, tmp_path):
    out = str(tmp_path / "grid.png")
    run(["fashion_t2i.generate", f"--workdir={trained['workdir']}", "--text=a red dress",
         "--text=navy blue boot", "--num_samples=3", f"--out={out}"])
    grid = tf.io.decode_png(tf.io.read_file(out)).numpy()
    assert grid.shape == (2 * 32, 3 * 32, 3)


@pytest.fixture(scope="module")
def exported(trained):
    base = str(trained["root"] / "export")
    result = run(["export", f"--workdir={trained['workdir']}", f"--base_dir={base}"])
    assert "warning" not in result.stderr
    return os.path.join(base, "fashion_t2i", "1")


def test_export_matches_the_python_generator_in_a_fresh_process(trained, exported):
    script = f"""
import numpy as np, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({exported!r})
out = m.signatures["generate"](texts=tf.constant(["a red dress", "striped boot"]),
                               seeds=tf.constant([7, 8], tf.int64))
np.save({exported + "/../images.npy"!r}, out["images"].numpy())
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300,
                   env=dict(os.environ, PYTHONPATH=ROOT))
    saved = np.load(os.path.join(exported, "..", "images.npy"))
    from fashion_t2i.text_to_image import TextToImage

    model = TextToImage.from_workdir(trained["workdir"])
    mine = model.generate(
        tf.constant(["a red dress", "striped boot"]), tf.constant([7, 8], tf.int64)
    )["images"].numpy()
    assert saved.shape == (2, 32, 32, 3) and saved.dtype == np.uint8
    assert_same_image(saved, mine)
    other = model.generate(tf.constant(["a red dress"]), tf.constant([9], tf.int64))["images"]
    assert not np.array_equal(other.numpy()[0], mine[0])


def test_exported_graph_uses_only_tf_serving_ops(exported):
    from export import op_check

    assert list(op_check.unsupported_ops(exported)) == []
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show", "--all",
         "--dir", exported],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("serving_default", "generate", "attention"):
        assert f"signature_def['{name}']" in result.stdout


def test_exported_model_served_over_grpc(exported):
    from serving.client import FashionT2IClient
    from serving.server import PredictionServer

    server = PredictionServer(os.path.dirname(exported), "fashion_t2i", port=0)
    server.start()
    try:
        client = FashionT2IClient(f"127.0.0.1:{server.port}", "fashion_t2i")
        pngs = client.generate(["a red dress", "a black sneaker"], seeds=[1, 2])
        images = [tf.io.decode_png(png).numpy() for png in pngs]
        assert [image.shape for image in images] == [(32, 32, 3)] * 2
        again = client.generate(["a red dress"], seeds=[1])
        assert_same_image(tf.io.decode_png(again[0]).numpy(), images[0])
    finally:
        server.stop()


def test_gan_phase_logs_attribute_accuracy_of_generated_images(trained):
    scalars, _ = _event_tags(os.path.join(trained["workdir"], "logs", "gan"))
    for name in ("class", "colour", "pattern"):
        assert f"eval/{name}_accuracy" in scalars and f"eval/{name}_accuracy_real" in scalars
    assert "attribute accuracy of generated images" in trained["stdout"]


def run_files(workdir):
    """Every file of a run with its bytes' digest."""
    digests = {}
    for directory, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def evaluated(trained, tmp_path_factory):
    """`evaluate` and `discriminator_check` on the trained run, and the run's files around them."""
    before = run_files(trained["workdir"])
    out = str(tmp_path_factory.mktemp("eval") / "metrics.json")
    run(["fashion_t2i.evaluate", f"--workdir={trained['workdir']}", "--num_images=128",
         f"--out={out}"])
    check_out = str(tmp_path_factory.mktemp("check") / "check.json")
    check = run(["fashion_t2i.discriminator_check", f"--workdir={trained['workdir']}",
                 "--num_images=32", f"--out={check_out}"])
    after = run_files(trained["workdir"])
    with open(out) as f:
        metrics = json.load(f)
    with open(check_out) as f:
        check_result = json.load(f)
    return {"before": before, "after": after, "metrics": metrics, "check": check_result,
            "check_output": check.stdout + check.stderr}


def test_analysis_tools_leave_the_run_byte_identical(evaluated):
    before, after = evaluated["before"], evaluated["after"]
    # Their own outputs: the evaluation's TensorBoard events (the attribute
    # classifier cache under eval/ was written by training already).
    own = {path for path in after if path.startswith(os.path.join("logs", "eval") + os.sep)}
    assert own, "evaluate wrote no TensorBoard events"
    assert set(after) - own == set(before)
    changed = [path for path in before if before[path] != after[path]]
    assert changed == []


def test_evaluate_reports_generated_next_to_real_ceilings(trained, evaluated):
    metrics = evaluated["metrics"]
    assert metrics["num_images"] == 128 and metrics["seeds"] == [0, 127]
    latest = tf.train.latest_checkpoint(os.path.join(trained["workdir"], "gan"))
    assert metrics["config"]["preset"] == "smoke" and metrics["checkpoint"] == latest
    assert metrics["step"] == int(latest.rsplit("-", 1)[-1])
    generated, real = metrics["generated"], metrics["real"]
    assert set(generated["attribute_accuracy"]) == set(real["attribute_accuracy"]) == {
        "class", "colour", "pattern"
    }
    # The ceiling is the real images of the same captions: on the smoke data
    # (128 validation examples) the images the classifier was validated on
    # when it was trained (here stored as uint8 PNG-like values, so a
    # prediction or two may differ).
    for name, value in real["classifier_validation_accuracy"].items():
        assert real["attribute_accuracy"][name] == pytest.approx(value, abs=0.02)
    # Images of a generator trained for two steps are far from the real ones
    # in the classifier's features (the same set twice would give 0).
    assert generated["domain_fid"] > 0.1
    variety = metrics["variety"]
    assert variety["num_seeds"] == 8 and variety["num_descriptions"] >= 1
    for measure in ("pixel", "silhouette"):
        assert variety["diversity_ratio"][measure] == pytest.approx(
            variety["generated"][measure] / variety["real"][measure]
        )
    # Real products of one content differ in shape; the untrained generator's
    # designs of one description barely do.
    assert variety["real"]["silhouette"] > 0.05
    sets = metrics["caption_sets"]
    assert set(sets) == {"held_out", "in_vocabulary"}
    assert sum(s["num_captions"] for s in sets.values()) == 128
    assert 0 < sets["held_out"]["num_captions"] < 128
    for values in sets.values():
        for side in ("generated", "real"):
            assert set(values[side]["attribute_accuracy"]) == {"class", "colour", "pattern"}
            assert any(name.startswith("r_precision") for name in values[side])
    # Every held-out caption says at least one held-out word; a caption with
    # a held-out colour and class word counts for both.
    by_word = metrics["held_out_words"]
    assert sum(w["num_captions"] for w in by_word.values()) >= sets["held_out"]["num_captions"]
    for values in by_word.values():
        for side in ("generated", "real"):
            assert set(values[side]["attribute_accuracy"]) == {"class", "colour", "pattern"}
            (metric,) = [name for name in values[side] if name.startswith("r_precision")]
            assert 0.0 <= values[side][metric] <= 1.0
    # Each held-out caption says exactly one held-out colour word, so the colour
    # words' groups split the held-out set: their hits add up to its R-precision.
    from fashion_t2i.data.attributes import HELD_OUT_COLOUR_WORDS

    colours = {w: v for w, v in by_word.items() if w in HELD_OUT_COLOUR_WORDS}
    held_out = sets["held_out"]
    assert sum(v["num_captions"] for v in colours.values()) == held_out["num_captions"]
    for side in ("generated", "real"):
        (metric,) = [name for name in held_out[side] if name.startswith("r_precision")]
        hits = sum(v["num_captions"] * v[side][metric] for v in colours.values())
        assert hits / held_out["num_captions"] == pytest.approx(held_out[side][metric], abs=1e-9)
        colour_hits = sum(
            v["num_captions"] * v[side]["attribute_accuracy"]["colour"] for v in colours.values()
        )
        assert colour_hits / held_out["num_captions"] == pytest.approx(
            held_out[side]["attribute_accuracy"]["colour"], abs=1e-9
        )
    edits = metrics["edit_consistency"]
    assert set(edits) == {"class", "colour", "pattern"}
    assert set(edits["colour"]) == {
        "followed", "class_kept", "pattern_kept", "class_unchanged", "pattern_unchanged"
    }
    scalars, _ = _event_tags(os.path.join(trained["workdir"], "logs", "eval"))
    assert {"variety/diversity_ratio/pixel", "edit_consistency/colour/followed"} <= scalars
    assert {"generated/r_precision", "real/r_precision",
            "generated/attribute_accuracy/colour", "real/attribute_accuracy/colour"} <= scalars


def test_evaluate_scores_generated_and_real_images_alike(trained, monkeypatch):
    """With the real images in place of the generated ones, both sides score the same."""
    from fashion_t2i import evaluate_lib
    from fashion_t2i import evaluation

    def real_images(model, captions, seeds, batch_size=64, log_fn=None):
        context = evaluate_lib.RunContext.open(trained["workdir"])
        examples = evaluation.read_examples(context.validation_reader, len(captions))
        size = context.config.model.stage_sizes[-1]
        unit = evaluation.to_unit_range(examples["image"], size)
        return np.round((unit + 1.0) * 127.5).astype(np.uint8)

    monkeypatch.setattr(evaluation, "generate_images", real_images)
    result = evaluate_lib.evaluate(
        trained["workdir"], None, 128, 0, ["attributes", "r_precision"], log_fn=lambda _: None
    )
    generated, real = result["generated"], result["real"]
    assert generated["r_precision"] == real["r_precision"]
    assert generated["attribute_accuracy"] == real["attribute_accuracy"]
    assert generated["domain_fid"] == pytest.approx(0.0, abs=1e-3)


def test_discriminator_check_scores_every_stage_and_attribute(evaluated):
    check = evaluated["check"]
    assert check["num_images"] == 32 and check["step"] >= 2
    assert sorted(check["own_caption_wins"]) == ["stage1", "stage2"]
    for values in check["own_caption_wins"].values():
        assert sorted(values) == ["class", "colour", "pattern"]
    assert "stage2: class" in evaluated["check_output"]


def test_analysis_of_a_directory_without_a_run_is_an_error(tmp_path):
    result = run(["fashion_t2i.evaluate", f"--workdir={tmp_path}", "--num_images=128"],
                 check=False)
    assert result.returncode != 0
    assert "holds no trained run" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_evaluate_rejects_unknown_metric(trained):
    result = run(["fashion_t2i.evaluate", f"--workdir={trained['workdir']}", "--metrics=nope"],
                 check=False)
    assert result.returncode != 0 and "Unknown --metrics" in result.stderr
