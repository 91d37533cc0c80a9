"""Choice of mismatched captions for the discriminators' conditional logits."""

import tensorflow as tf


def closest_mismatch(sentence_feature, content_ids, fallback, candidates=None):
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
        candidates: optional `(features [N, D], content_ids [N])` to choose
            from instead of the batch itself, e.g. the global batch gathered
            from every replica (then `content_ids` must be given, so that an
            example never picks itself).

    Returns:
        [B, D] sentence features of the chosen mismatched captions.
    """
    if candidates is None:
        candidate_features, candidate_ids = sentence_feature, content_ids
    else:
        candidate_features, candidate_ids = candidates
        if content_ids is None:
            raise ValueError("closest_mismatch with candidates needs content_ids.")
    unit = tf.math.l2_normalize(tf.cast(sentence_feature, tf.float32), axis=-1)
    candidate_unit = tf.math.l2_normalize(tf.cast(candidate_features, tf.float32), axis=-1)
    similarity = tf.matmul(unit, candidate_unit, transpose_b=True)
    if content_ids is None:
        same = tf.eye(tf.shape(similarity)[0], dtype=tf.bool)
    else:
        same = tf.equal(content_ids[:, None], candidate_ids[None, :])
    # Cosines are >= -1, so -2 ranks every example of the same content last.
    similarity = tf.where(same, tf.fill(tf.shape(similarity), -2.0), similarity)
    chosen = tf.gather(candidate_features, tf.argmax(similarity, axis=1))
    has_mismatch = tf.reduce_any(tf.logical_not(same), axis=1)
    return tf.where(has_mismatch[:, None], chosen, fallback)
