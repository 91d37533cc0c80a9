import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# oneDNN fuses ops differently in eager and graph mode; with it off, the
# exported SavedModel and the Python generator agree bit for bit.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402  (after the environment above)

# The suite traces a few hundred small graphs and runs most of them a handful of
# times: Grappler's rewrite of each (several seconds per GAN step on a 2-core
# machine) costs more than it saves. In-process tests run the graphs as traced;
# the end-to-end tests that start `python -m fashion_t2i.train` or the export in
# a subprocess keep the default optimiser, as users do.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


# The longest modules beside another pytest worker on a 2-core machine (seconds,
# summed over their tests, 2026-12-02), longest first. Only the order of the
# run depends on this list; `make test` passes --no-loadscope-reorder so that
# pytest-xdist keeps it (by default it hands out the modules with the most
# tests first, which left the multi-worker and catalogue runs for the end).
LONGEST_MODULES = [
    "test_image_trunk",  # 330: trunk pretraining twice, three `train` runs
    "test_train_e2e",  # 280
    "test_catalogue_e2e",  # 185
    "test_attn_gan",  # 180
    "test_reliability",  # 165
    "test_multi_worker",  # 126: two training processes in one cluster
    "test_run_context",  # 113
    "test_distribute",  # 110
    "test_benchmarks",  # 102
    "test_benchmark_train_step",  # 65 (102 before its runs were shared)
]


def pytest_collection_modifyitems(items):
    """The longest modules first, then other modules with end-to-end (`slow`) tests.

    `make test` hands whole modules to its pytest-xdist workers in this order:
    the long modules start first and the short ones fill in behind them, so
    that the two workers finish close together. Each module's tests keep
    their order.
    """
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

    def rank(item):
        name = item.module.__name__
        if name in LONGEST_MODULES:
            return LONGEST_MODULES.index(name)
        return len(LONGEST_MODULES) + (name not in slow_modules)

    items.sort(key=rank)
