"""What a run wrote to TensorBoard: the tags of its event files."""

import os

import tensorflow as tf


def summary_tags(log_dir):
    """`{tag: plugin name}` of every summary value in the event files of `log_dir`.

    A value written as a plain float (`simple_value`) counts as `"scalars"`
    whatever its metadata says, unless it is an image.
    """
    tags = {}
    for name in os.listdir(log_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin != "images" and value.HasField("simple_value"):
                    plugin = "scalars"
                tags[value.tag] = plugin
    return tags
