"""Choice of mismatched captions for the discriminators' conditional logits."""

import tensorflow as tf


def closest_mismatch(sentence_feature, content_ids, fallback):
    """Per example, the sentence feature of the batch closest to its own that shows something else.

    A random wrong caption of the embedded data nearly always names another
    colour, so a discriminator can reject it by colour alone and never learn
    to check the product class. The closest caption (cosine of e_bar) among
    those with another `content_ids` value mostly shares the colour and
    differs in class or pattern, so it can only be rejected by shape.

    Args:
        sentence_feature: e_bar [B, D].
        content_ids: [B]; equal ids show the same thing (never each other's
            mismatch). None: every example differs from every other.
        fallback: [B, D] wrong features used where no example of the batch
            shows something else.

    Returns:
        [B, D] sentence features of the chosen mismatched captions.
    """
    unit = tf.math.l2_normalize(tf.cast(sentence_feature, tf.float32), axis=-1)
    similarity = tf.matmul(unit, unit, transpose_b=True)
    batch = tf.shape(similarity)[0]
    if content_ids is None:
        same = tf.eye(batch, dtype=tf.bool)
    else:
        same = tf.equal(content_ids[:, None], content_ids[None, :])
    # Cosines are >= -1, so -2 ranks every example of the same content last.
    similarity = tf.where(same, tf.fill(tf.shape(similarity), -2.0), similarity)
    chosen = tf.gather(sentence_feature, tf.argmax(similarity, axis=1))
    has_mismatch = tf.reduce_any(tf.logical_not(same), axis=1)
    return tf.where(has_mismatch[:, None], chosen, fallback)
