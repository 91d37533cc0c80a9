"""The training-step benchmark runs, and its FLOPs counter agrees with hand counts.

See benchmarks/train_step.py and benchmarks/flops.py.
"""

import math

import keras
import pytest
import tensorflow as tf

from benchmarks import flops
from benchmarks import train_step
from fashion_t2i.config import get_preset

# x [2, 8, 8, 4] * w [3, 3, 4, 8], VALID -> y [2, 6, 6, 8]: 2 * (2*6*6*8) * (3*3*4).
CONV_FLOPS = 2 * (2 * 6 * 6 * 8) * (3 * 3 * 4)  # 41 472
# reshape(y) [2, 288] @ m [288, 10]: 2 * 2 * 288 * 10.
MATMUL_FLOPS = 2 * 2 * 288 * 10  # 11 520


def _conv_then_matmul():
    w = tf.Variable(tf.random.normal([3, 3, 4, 8]))
    m = tf.Variable(tf.random.normal([6 * 6 * 8, 10]))

    def forward(x):
        y = tf.nn.conv2d(x, w, strides=1, padding="VALID")
        return tf.matmul(tf.reshape(y, [2, -1]), m)

    return forward, [w, m]


def test_counts_one_conv2d_and_one_matmul():
    forward, _ = _conv_then_matmul()
    count = flops.count_flops(tf.function(forward), tf.TensorSpec([2, 8, 8, 4]))
    assert count.by_op_type == {"Conv2D": CONV_FLOPS, "MatMul": MATMUL_FLOPS}
    assert count.total == CONV_FLOPS + MATMUL_FLOPS == 52_992


def test_counts_gradients_and_skips_pruned_ops():
    forward, variables = _conv_then_matmul()

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(forward(x))
        return loss, tape.gradient(loss, variables)

    count = flops.count_flops(gradients, tf.TensorSpec([2, 8, 8, 4]))
    # The conv's filter gradient costs as much as the conv; the matmul has two
    # gradient matmuls (dy and dm). The traced graph also holds the conv's
    # input gradient, which nothing uses: TensorFlow prunes it, so do we.
    assert count.by_op_type == {
        "Conv2D": CONV_FLOPS,
        "Conv2DBackpropFilter": CONV_FLOPS,
        "MatMul": 3 * MATMUL_FLOPS,
    }
    assert count.by_scope.keys() >= {("forward",), ("backward",)}


def test_counts_loops_branches_and_einsum():
    @tf.function
    def f(h, a, b, flag):
        # 5 iterations of [4, 16] @ [16, 16]: 5 * 2 * 4 * 16 * 16.
        w = tf.ones([16, 16])
        _, h = tf.while_loop(
            lambda i, h: i < 5, lambda i, h: (i + 1, tf.matmul(h, w)), [tf.constant(0), h]
        )
        # The costlier branch counts: [4, 16] @ [16, 8]: 2 * 4 * 16 * 8.
        g = tf.cond(flag, lambda: tf.matmul(h, tf.ones([16, 8])), lambda: tf.zeros([4, 8]))
        # [2, 3, 4] x [2, 4, 5] -> [2, 3, 5]: 2 * 2 * 3 * 4 * 5.
        return g, tf.einsum("bij,bjk->bik", a, b)

    count = flops.count_flops(
        f,
        tf.TensorSpec([4, 16]),
        tf.TensorSpec([2, 3, 4]),
        tf.TensorSpec([2, 4, 5]),
        tf.TensorSpec([], tf.bool),
    )
    assert count.unknown_trip_counts == []
    assert count.by_op_type == {"MatMul": 5 * 2 * 4 * 16 * 16 + 2 * 4 * 16 * 8, "Einsum": 240}


@pytest.fixture(scope="module")
def smoke_benchmark():
    """`smoke_benchmark(phase, **flags)`: the smoke preset's benchmark, run once per arguments.

    Each run traces its step (most of its time), so the tests share them.
    """
    results = {}

    def run(phase, **flags):
        key = (phase, tuple(sorted(flags.items())))
        if key not in results:
            results[key] = train_step.benchmark(
                preset="smoke", phase=phase, steps=1, repeats=2, matmul_size=256,
                matmul_repeats=3, **flags,
            )
        return results[key]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["damsm", "gan"])
def test_benchmark_runs_on_the_smoke_preset(smoke_benchmark, phase):
    result = smoke_benchmark(phase)

    assert math.isfinite(result["ms_per_step"]) and result["ms_per_step"] > 0
    assert result["images_per_s"] > 0
    assert result["step_flops"] > 0
    assert result["flops_unknown_trip_counts"] == []
    # Convolutions, the LSTM matmuls and the attention einsums.
    for op_type in ("Conv2D", "MatMul", "Einsum"):
        assert result["flops_by_op_type"][op_type] > 0, op_type
    backward = ("Conv2DBackpropInput", "Conv2DBackpropFilter")
    if phase == "gan":
        # The generator's and discriminators' convolutions are trained.
        assert all(result["flops_by_op_type"][op_type] > 0 for op_type in backward)
    else:
        # The smoke preset's InceptionV3 trunk is frozen: only the 1x1 region
        # projection on top of it gets a filter gradient, and no gradient flows
        # back into the trunk's inputs.
        assert result["flops_by_op_type"]["Conv2DBackpropFilter"] > 0
        assert "Conv2DBackpropInput" not in result["flops_by_op_type"]
    assert result["peak_flops_per_s"]["float32"] > 0
    assert 0 < result["fraction_of_float32_peak"] < math.inf
    assert result["peak_rss_mb"] > 0
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow
def test_zero_similarity_weight_drops_the_image_encoder(smoke_benchmark):
    with_loss, without_loss = smoke_benchmark("gan"), smoke_benchmark("gan", similarity_weight=0.0)
    assert with_loss["similarity_weight"] == get_preset("smoke").train.similarity_weight > 0
    assert without_loss["similarity_weight"] == 0.0
    trained, without = with_loss["flops_by_network"], without_loss["flops_by_network"]
    # The frozen image encoder runs forward and backward (to the images) for
    # L_similarity; at lambda 0 it does not run at all, and neither do the
    # loss's attention einsums (the generator's word attention keeps its own).
    assert trained["forward/image_encoder"] > 0 and trained["backward/image_encoder"] > 0
    assert not any("image_encoder" in name for name in without)
    for name in ("forward/einsum", "backward/einsum"):
        assert without.get(name, 0.0) < trained[name], name
    for name in trained:
        if "image_encoder" not in name and "einsum" not in name:
            assert without.get(name) == pytest.approx(trained[name], rel=1e-6), name
