"""End to end on the smoke preset: train both phases, resume, logs, export, serve."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.config import Config

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


def _event_tags(log_dir):
    scalars, images = set(), set()
    for name in os.listdir(log_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "images":
                    images.add(value.tag)
                elif plugin == "scalars" or value.HasField("simple_value"):
                    scalars.add(value.tag)
    return scalars, images


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
    assert "damsm/attention" in images
    scalars, images = _event_tags(os.path.join(logs, "gan"))
    for name in (
        "generator_loss", "kl_loss", "similarity_loss",
        "generator_adversarial_loss_1", "generator_adversarial_loss_2",
        "discriminator_loss_1", "discriminator_loss_2",
    ):
        assert f"loss/{name}" in scalars
    assert {"eval/similarity_loss", "eval/class_accuracy"} <= scalars
    assert {"gan/samples", "gan/attention"} <= images


def test_rerun_resumes_at_the_saved_step(trained):
    workdir = trained["workdir"]
    result = run(
        ["fashion_t2i.train", "--preset=smoke", f"--workdir={workdir}",
         f"--data_dir={trained['data_dir']}", "--gan_steps=3"]
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
    np.testing.assert_array_equal(saved, mine)
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
        assert again[0] == pngs[0]
    finally:
        server.stop()


def test_gan_phase_logs_attribute_accuracy_of_generated_images(trained):
    scalars, _ = _event_tags(os.path.join(trained["workdir"], "logs", "gan"))
    for name in ("class", "colour", "pattern"):
        assert f"eval/{name}_accuracy" in scalars and f"eval/{name}_accuracy_real" in scalars
    assert "attribute accuracy of generated images" in trained["stdout"]


def test_evaluate_writes_metrics_with_real_ceilings(trained, tmp_path):
    import json

    out = str(tmp_path / "metrics.json")
    run(["fashion_t2i.evaluate", f"--workdir={trained['workdir']}", "--num_images=128",
         f"--out={out}"])
    with open(out) as f:
        metrics = json.load(f)
    assert metrics["num_images"] == 128 and metrics["seeds"] == [0, 127]
    assert metrics["config"]["preset"] == "smoke" and metrics["step"] >= 2
    for side in ("generated", "real"):
        assert 0.0 <= metrics[side]["r_precision"] <= 1.0
        assert set(metrics[side]["attribute_accuracy"]) == {"class", "colour", "pattern"}
        assert all(0.0 <= v <= 1.0 for v in metrics[side]["attribute_accuracy"].values())
    assert metrics["generated"]["domain_fid"] >= 0.0
    assert set(metrics["real"]["classifier_validation_accuracy"]) == {"class", "colour", "pattern"}
    scalars, _ = _event_tags(os.path.join(trained["workdir"], "logs", "eval"))
    assert "generated/r_precision" in scalars


def test_discriminator_check_scores_every_stage_and_attribute(trained, tmp_path):
    import json

    out = str(tmp_path / "check.json")
    result = run(["fashion_t2i.discriminator_check", f"--workdir={trained['workdir']}",
                  "--num_images=32", f"--out={out}"])
    with open(out) as f:
        check = json.load(f)
    assert check["num_images"] == 32 and check["step"] >= 2
    assert sorted(check["own_caption_wins"]) == ["stage1", "stage2"]
    for values in check["own_caption_wins"].values():
        assert sorted(values) == ["class", "colour", "pattern"]
        assert all(0.0 <= v <= 1.0 for v in values.values())
    assert "stage2: class" in result.stdout + result.stderr


def test_evaluate_rejects_unknown_metric(trained):
    result = run(["fashion_t2i.evaluate", f"--workdir={trained['workdir']}", "--metrics=nope"],
                 check=False)
    assert result.returncode != 0 and "Unknown --metrics" in result.stderr
