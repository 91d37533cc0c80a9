"""Pure loss functions of the seed (and the AttnGAN / SCAN / StackGAN details).

Shapes: B batch, T words, N image regions, D joint size. Every function takes
tensors and returns tensors; none holds state. Score matrices are indexed
`[text, image]`: entry (i, j) scores caption i against image j, so the
diagonal holds the true pairs.
"""

import tensorflow as tf

# Logit given to entries that must not compete in a softmax. Finite, so
# gradients stay finite; exp() of it underflows to exactly 0.
_MASKED_LOGIT = -1e9
_EPS = 1e-8


def masked_softmax(logits, mask, axis):
    """Softmax over `axis` restricted to `mask`; all-masked slices give zeros."""
    mask = tf.cast(mask, tf.bool)
    weights = tf.nn.softmax(tf.where(mask, logits, _MASKED_LOGIT), axis=axis)
    return weights * tf.cast(mask, weights.dtype)


def cross_attention(query, context, query_mask, context_mask, gamma1, attention="attngan"):
    """Attention of every query position over the context, for every pair.

    `attention="attngan"` is AttnGAN's `func_attention` (DAMSM), generalised
    to both SCAN directions: s = query . context^T; a first softmax over
    query positions normalises each context position's scores; the result,
    scaled by gamma1, goes through a softmax over context positions, giving
    alpha. `attention="cosine"` is SCAN's single softmax: alpha is the
    softmax over context positions of gamma1 * cos(query, context). Either
    way the attended context is a_q = sum_c alpha_qc context_c.

    Args:
        query: [A, Q, D] (words for text-to-image, regions for image-to-text).
        context: [C_batch, C, D].
        query_mask: bool [A, Q], False at padding.
        context_mask: bool [C_batch, C].
        gamma1: sharpness of the softmax over context positions.
        attention: `"attngan"` or `"cosine"`.

    Returns:
        `(attended, alpha)`: [A, C_batch, Q, D] and [A, C_batch, Q, C].
    """
    context_valid = context_mask[None, :, None, :]
    if attention == "attngan":
        scores = tf.einsum("aqd,bcd->abqc", query, context)
        query_valid = query_mask[:, None, :, None]
        logits = gamma1 * masked_softmax(scores, query_valid, axis=2)
    elif attention == "cosine":
        # l2_normalize leaves a zero vector (padding) at zero.
        logits = gamma1 * tf.einsum(
            "aqd,bcd->abqc", tf.math.l2_normalize(query, -1), tf.math.l2_normalize(context, -1)
        )
    else:
        raise ValueError(f"attention must be 'attngan' or 'cosine', got {attention!r}.")
    alpha = masked_softmax(logits, context_valid, axis=3)
    attended = tf.einsum("abqc,bcd->abqd", alpha, context)
    return attended, alpha


def cosine_similarity(a, b, axis=-1):
    """Cosine of `a` and `b` along `axis` (0 where either is 0)."""
    dot = tf.reduce_sum(a * b, axis=axis)
    return dot / (tf.norm(a, axis=axis) * tf.norm(b, axis=axis) + _EPS)


def aggregate_relevance(relevance, mask, gamma2):
    """R(E, V) = log(sum_i exp(gamma2 * R(a_i, e_i))) over valid positions.

    This is AttnGAN's aggregation; the seed writes the power 1/gamma2, which
    only divides every score by gamma2 and is absorbed by gamma3. A pair
    with no valid position scores 0.

    Args:
        relevance: [..., Q] cosine of each position with its attended vector.
        mask: bool broadcastable to `relevance`.
        gamma2: weight of the most relevant positions.
    """
    mask = tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(relevance))
    logits = tf.where(mask, gamma2 * relevance, _MASKED_LOGIT)
    any_valid = tf.reduce_any(mask, axis=-1)
    return tf.where(any_valid, tf.reduce_logsumexp(logits, axis=-1), 0.0)


def word_region_scores(
    word_features, word_mask, region_features, gamma1, gamma2, attention="attngan"
):
    """Text-to-image scores R(E_i, V_j): words attend to regions (seed Fig. 3 right).

    Args:
        word_features: e [B_t, T, D].
        word_mask: bool [B_t, T].
        region_features: v [B_i, N, D].
        attention: `cross_attention`'s `"attngan"` or `"cosine"`.

    Returns:
        `(scores, alpha)`: [B_t, B_i] and the word-over-region attention
        [B_t, B_i, T, N].
    """
    region_mask = tf.ones(tf.shape(region_features)[:2], tf.bool)
    attended, alpha = cross_attention(
        word_features, region_features, word_mask, region_mask, gamma1, attention
    )
    relevance = cosine_similarity(attended, word_features[:, None])
    return aggregate_relevance(relevance, word_mask[:, None, :], gamma2), alpha


def region_word_scores(
    word_features, word_mask, region_features, gamma1, gamma2, attention="attngan"
):
    """Image-to-text scores: regions attend to words (seed Fig. 3 left, SCAN i2t).

    Args: as `word_region_scores`.

    Returns:
        scores [B_t, B_i], indexed like `word_region_scores`.
    """
    region_mask = tf.ones(tf.shape(region_features)[:2], tf.bool)
    attended, _ = cross_attention(
        region_features, word_features, region_mask, word_mask, gamma1, attention
    )
    relevance = cosine_similarity(attended, region_features[:, None])
    return tf.transpose(aggregate_relevance(relevance, region_mask[:, None, :], gamma2))


def global_scores(sentence_feature, global_feature):
    """cos(e_bar_i, v_bar_j) for every pair: [B_t, B_i]."""
    return cosine_similarity(sentence_feature[:, None, :], global_feature[None, :, :])


def matching_losses(scores, gamma3, content_ids=None, valid=None):
    """The two batch-softmax losses over a [text, image] score matrix.

    L1 = -mean_i log P(E_i | V_i), P(E_i | V_i) = softmax over captions j of
    gamma3 * R(E_j, V_i); L2 = -mean_i log P(V_i | E_i), softmax over images.
    The seed writes sums over the batch; AttnGAN (and this function) takes
    the mean, which keeps the learning rate independent of the batch size.

    Args:
        scores: [B, B], diagonal = true pairs.
        gamma3: softmax scale.
        content_ids: optional int [B]. Off-diagonal pairs with equal ids are
            not negatives (several poses of one product, or the same class):
            they are removed from both softmaxes.
        valid: optional bool [B]. Examples that are False (no words) do not
            count in the mean and are not negatives of the others.

    Returns:
        `(loss_1, loss_2)`: scalars, L1 and L2.
    """
    batch = tf.shape(scores)[0]
    logits = gamma3 * scores
    keep = tf.ones([batch, batch], tf.bool)
    if content_ids is not None:
        same = tf.equal(content_ids[:, None], content_ids[None, :])
        keep = tf.logical_not(same) | tf.eye(batch, dtype=tf.bool)
    if valid is not None:
        valid = tf.cast(valid, tf.bool)
        keep = keep & valid[:, None] & valid[None, :] | tf.eye(batch, dtype=tf.bool)
        weights = tf.cast(valid, logits.dtype)
    else:
        weights = tf.ones([batch], logits.dtype)
    logits = tf.where(keep, logits, _MASKED_LOGIT)
    diagonal = tf.linalg.diag_part(logits)
    # P(E_i | V_i): image i fixed (column i), softmax over captions (axis 0).
    nll_text = tf.reduce_logsumexp(logits, axis=0) - diagonal
    # P(V_i | E_i): caption i fixed (row i), softmax over images (axis 1).
    nll_image = tf.reduce_logsumexp(logits, axis=1) - diagonal
    total = tf.maximum(tf.reduce_sum(weights), 1.0)
    return tf.reduce_sum(nll_text * weights) / total, tf.reduce_sum(nll_image * weights) / total


def similarity_loss(
    word_features,
    sentence_feature,
    word_mask,
    region_features,
    global_feature,
    gamma1=4.0,
    gamma2=5.0,
    gamma3=10.0,
    mode="t2i",
    content_ids=None,
    attention="attngan",
):
    """L_similarity = L_global + L1_local + L2_local (+ the i2t pair with mode="both").

    Args:
        word_features: e [B, T, D]; sentence_feature: e_bar [B, D].
        word_mask: bool [B, T].
        region_features: v [B, N, D]; global_feature: v_bar [B, D].
        gamma1, gamma2, gamma3: AttnGAN's 4, 5, 10.
        mode: "t2i" (words attend to regions), "i2t" (regions attend to
            words) or "both".
        content_ids: optional int [B], see `matching_losses`.
        attention: how words and regions attend to each other,
            `cross_attention`'s `"attngan"` (the seed's) or `"cosine"`.

    Returns:
        A dict of scalars: `similarity_loss` (the sum) and its terms
        `global_loss_1/2`, and `t2i_loss_1/2` and/or `i2t_loss_1/2`.
    """
    if mode not in ("t2i", "i2t", "both"):
        raise ValueError(f"mode must be 't2i', 'i2t' or 'both', got {mode!r}.")
    valid = tf.reduce_any(word_mask, axis=1)
    terms = {}
    terms["global_loss_1"], terms["global_loss_2"] = matching_losses(
        global_scores(sentence_feature, global_feature), gamma3, content_ids, valid
    )
    if mode in ("t2i", "both"):
        scores, _ = word_region_scores(
            word_features, word_mask, region_features, gamma1, gamma2, attention
        )
        terms["t2i_loss_1"], terms["t2i_loss_2"] = matching_losses(
            scores, gamma3, content_ids, valid
        )
    if mode in ("i2t", "both"):
        scores = region_word_scores(
            word_features, word_mask, region_features, gamma1, gamma2, attention
        )
        terms["i2t_loss_1"], terms["i2t_loss_2"] = matching_losses(
            scores, gamma3, content_ids, valid
        )
    terms["similarity_loss"] = tf.add_n(list(terms.values()))
    return terms


def _bce(logits, label):
    labels = tf.fill(tf.shape(logits), tf.cast(label, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def generator_adversarial_loss(fake_logits, fake_conditional_logits):
    """L_Gk = -1/2 E[log D_k(x_hat)] - 1/2 E[log D_k(x_hat, e_bar)] (seed).

    Args:
        fake_logits: unconditional logits of D_k on generated images.
        fake_conditional_logits: conditional logits on (generated, its caption).
    """
    return 0.5 * _bce(fake_logits, 1.0) + 0.5 * _bce(fake_conditional_logits, 1.0)


def discriminator_loss(
    real_logits,
    real_conditional_logits,
    fake_logits,
    fake_conditional_logits,
    wrong_conditional_logits=None,
):
    """L_Dk of the seed, with AttnGAN's mismatched pair as an option.

    L_Dk = -1/2 E[log D(x)] - 1/2 E[log(1 - D(x_hat))]
           -1/2 E[log D(x, e_bar)] - 1/2 E[log(1 - D(x_hat, e_bar))].

    With `wrong_conditional_logits` (D on a real image with another
    example's caption), the conditional negative term becomes the mean of
    the generated and the mismatched terms, so the weights still sum to 1/2:
    -1/4 E[log(1 - D(x_hat, e_bar))] - 1/4 E[log(1 - D(x, e_bar_wrong))].
    Logits of shape [K, B] (K wrong captions per image) are averaged over
    both axes in the expectation.
    """
    unconditional = 0.5 * _bce(real_logits, 1.0) + 0.5 * _bce(fake_logits, 0.0)
    conditional_negative = _bce(fake_conditional_logits, 0.0)
    if wrong_conditional_logits is not None:
        conditional_negative = 0.5 * (conditional_negative + _bce(wrong_conditional_logits, 0.0))
    conditional = 0.5 * _bce(real_conditional_logits, 1.0) + 0.5 * conditional_negative
    return unconditional + conditional


def mode_seeking_loss(images_a, images_b, noise_a, noise_b, epsilon=1e-5):
    """MSGAN's mode-seeking term for two samples of the same captions.

        d = mean|x_a - x_b| / mean|n_a - n_b|,    L_ms = 1 / (d + epsilon)

    Two draws of one caption with different noise should differ as much
    as their noises do; minimising L_ms pushes the generator to use its
    noise instead of collapsing to one design per caption.

    Reference:
        Mao et al., "Mode Seeking Generative Adversarial Networks for
        Diverse Image Synthesis", CVPR 2019, https://arxiv.org/abs/1903.05628.

    Args:
        images_a, images_b: [B, H, W, C] images of the same B captions.
        noise_a, noise_b: [B, N] the noise each was drawn with.
        epsilon: keeps the loss finite for identical images.

    Returns:
        The scalar L_ms.
    """
    image_distance = tf.reduce_mean(tf.abs(images_a - images_b))
    noise_distance = tf.reduce_mean(tf.abs(noise_a - noise_b))
    return 1.0 / (image_distance / noise_distance + epsilon)


def class_loss(class_logits, class_ids):
    """Auxiliary classifier loss (AC-GAN): mean softmax cross-entropy of the class ids.

    D_k's heads learn an attribute (the product class, its colour, ...) of
    real images with it; the generator is asked to draw images the heads read
    as the caption's values.

    Reference:
        Odena et al., "Conditional Image Synthesis with Auxiliary Classifier
        GANs", ICML 2017, https://arxiv.org/abs/1610.09585.

    Args:
        class_logits: [B, C] logits.
        class_ids: [B] int ids in [0, C).

    Returns:
        The scalar loss.
    """
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(class_ids, tf.int32), logits=tf.cast(class_logits, tf.float32)
        )
    )


def kl_loss(mu, log_variance):
    """KL(N(mu, sigma^2) || N(0, I)) of conditioning augmentation, mean over elements.

    StackGAN: -1/2 mean(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * tf.reduce_mean(1.0 + log_variance - tf.square(mu) - tf.exp(log_variance))
