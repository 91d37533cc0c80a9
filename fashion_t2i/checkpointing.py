"""Checkpoints that hold every variable of Keras objects.

`tf.train.Checkpoint` follows object attributes, and Keras 3 keeps
sub-layers in its own list wrappers that the TF object graph does not
descend into: layers held in lists (stage blocks, Sequential and Functional
internals) would silently be left out. These checkpoints list the variables
explicitly instead, keyed by owner and position, so nothing is skipped and
a layout change fails loudly on restore.
"""

import os

import tensorflow as tf


def _key(prefix, index):
    # Not the Keras path or name: they hold process-wide instance numbers
    # ("batch_normalization_95") that differ between processes building the
    # same network. Position within the owner is stable; shapes are checked
    # on restore.
    return f"{prefix}.{index:04d}"


def variable_checkpoint(**groups):
    """A `tf.train.Checkpoint` of every variable of the given objects.

    Args:
        **groups: name -> a Keras layer, model or optimizer (all of its
            `variables`), a list of variables, or a single variable (kept
            under its own name, e.g. the step counter).

    Returns:
        The checkpoint; single variables stay reachable as attributes
        (`checkpoint.step`).
    """
    items = {}
    for prefix, owner in groups.items():
        if isinstance(owner, tf.Variable) or hasattr(owner, "assign") and not hasattr(
            owner, "variables"
        ):
            items[prefix] = owner
            continue
        variables = owner if isinstance(owner, (list, tuple)) else owner.variables
        if not variables:
            raise ValueError(f"{prefix} has no variables yet: build it before checkpointing.")
        for index, variable in enumerate(variables):
            items[_key(prefix, index)] = variable
    return tf.train.Checkpoint(**items)


def restore(checkpoint, path):
    """Restores `path` into `checkpoint`, requiring every variable to be found.

    Raises:
        ValueError: the checkpoint at `path` lacks a variable or has another
            shape (a run of another architecture or version).
    """
    status = checkpoint.restore(path)
    try:
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise ValueError(
            f"{path} does not match the model being restored ({e}). Was it written with "
            "another config or version of fashion_t2i?"
        ) from e
    # Entries of the file that this checkpoint does not ask for (another
    # phase's optimizer, say) are expected.
    status.expect_partial()


def damsm_checkpoint(damsm, **extra):
    """The DAMSM phase's checkpoint: both encoders (and `extra` objects, e.g. optimizer, step)."""
    return variable_checkpoint(
        text_encoder=damsm.text_encoder, image_encoder=damsm.image_encoder, **extra
    )


def gan_checkpoint(gan, step=None, optimizers=True):
    """The GAN phase's checkpoint: every network, the EMA, the noise state and the step.

    With `optimizers` (training) it also holds every optimizer's state; a
    run opened for analysis restores the networks without them.
    """
    items = {
        "generator": gan.generator,
        "generator_ema": gan.generator_ema,
        "text_encoder": gan.text_encoder,
        "image_encoder": gan.image_encoder,
        "seed_generator_state": gan.seed_generator.state,
    }
    if step is not None:
        items["step"] = step
    if optimizers:
        items["generator_optimizer"] = gan.generator_optimizer
    for k, discriminator in enumerate(gan.discriminators):
        items[f"discriminator{k + 1}"] = discriminator
        if optimizers:
            items[f"discriminator{k + 1}_optimizer"] = gan.discriminator_optimizers[k]
    return variable_checkpoint(**items)


def latest(directory, phase, hint):
    """The latest checkpoint path of `phase` in a run directory.

    Raises:
        FileNotFoundError: no checkpoint of `phase` in `directory`; the
            message ends with `hint` (what to run first).
    """
    path = tf.train.latest_checkpoint(os.path.join(directory, phase))
    if path is None:
        raise FileNotFoundError(f"No {phase.upper()} checkpoint in {directory}/{phase}: {hint}")
    return path
