"""R-precision of text-image agreement (AttnGAN protocol), numpy only.

For each generated image, its true caption is ranked among itself and 99
captions of other examples by a text-image scorer (DAMSM: cosine similarity
of the global image feature and the sentence feature); a hit is the true
caption ranking first. R-precision is the hit rate (R = 1 relevant caption
among 100, so top-1 of 100; chance level is 1/100).

Reference:
    Xu et al., "AttnGAN: Fine-Grained Text to Image Generation with Attentional
    Generative Adversarial Networks", CVPR 2018, https://arxiv.org/abs/1711.10485.

On a validation set with fewer than 100 distinct products the candidates
are as many as the data holds: `fitting_candidates` gives K = min(100,
available), and the value is reported as `r_precision_at_K`
(`metric_name`), so that a top-1 of 21 is never read as a top-1 of 100.

Typical use::

    k = fitting_candidates(product_ids)
    candidate_sets = sample_candidates(n, k, product_ids, rng)
    scores = candidate_scores(image_features, sentence_features, candidate_sets)
    r = r_precision(scores)
"""

import collections

import numpy as np

# AttnGAN's candidates per image: the true caption and 99 others.
FULL_CANDIDATES = 100


def available_candidates(content_ids):
    """The most candidates every example can have: 1 + the fewest other-content examples.

    An example of content c can be ranked against its own caption and the
    captions of the N - n_c examples of other contents, so the largest
    content group bounds the count for all: 1 + N - max_c n_c.

    Args:
        content_ids: length-N keys (see `sample_candidates`).

    Returns:
        The count as an int (1 when every example shows the same content,
        and 0 when there is no example).
    """
    if not len(content_ids):
        return 0
    sizes = collections.Counter(_hashable(key) for key in content_ids)
    return 1 + len(content_ids) - max(sizes.values())


def fitting_candidates(content_ids, wanted=FULL_CANDIDATES):
    """K = min(`wanted`, `available_candidates(content_ids)`): candidates the data can give.

    Raises:
        ValueError: fewer than 2 candidates are available (every example
            shows the same content, or there is none): nothing to rank.
    """
    available = available_candidates(content_ids)
    if available < 2:
        distinct = len({_hashable(key) for key in content_ids})
        raise ValueError(
            f"R-precision needs examples of at least 2 distinct contents; the "
            f"{len(content_ids)} examples show {distinct}."
        )
    return min(int(wanted), available)


def metric_name(num_candidates):
    """`"r_precision"` for AttnGAN's 100 candidates, else `"r_precision_at_<K>"`.

    Values over fewer candidates are easier (chance is 1/K), so they carry
    their K in the name and are never compared with 100-candidate results.
    """
    if num_candidates == FULL_CANDIDATES:
        return "r_precision"
    return f"r_precision_at_{num_candidates}"


def sample_candidates(num_examples, num_candidates, content_ids, rng):
    """Draws the caption candidates of every example.

    Each example gets its own caption plus `num_candidates - 1` captions of
    other examples drawn uniformly without replacement among those whose
    content key differs from its own. Without that filter, a product's other
    captions (Fashion-Gen has several images per product id) or an identical
    template caption on the embedded data ("a red dress" for two red
    dresses) would be counted as wrong answers, and a perfect scorer would
    be marked down for a tie it cannot break.

    Args:
        num_examples: N, the number of examples (captions and images).
        num_candidates: candidates per example including the true one
            (AttnGAN: 100).
        content_ids: length-N sequence of hashable keys (or a `[N, K]`
            array, one key per row) saying which examples share content: the
            product id on Fashion-Gen, the (class, colour, pattern) tuple on
            the embedded data.
        rng: `numpy.random.Generator`, or an int seed (fix it so that runs
            score the same candidates).

    Returns:
        `[N, num_candidates]` int64 array of example indices. Column 0 is the
        example itself (`candidate_sets[i, 0] == i`); columns 1.. are the
        wrong candidates, all with a content key different from example i's.

    Raises:
        ValueError: `content_ids` does not have N entries,
            `num_candidates < 2`, or some example has fewer than
            `num_candidates - 1` examples with different content.
    """
    if len(content_ids) != num_examples:
        raise ValueError(
            f"content_ids has {len(content_ids)} entries for num_examples={num_examples}."
        )
    if num_candidates < 2:
        raise ValueError(f"num_candidates must be at least 2, got {num_candidates}.")
    rng = np.random.default_rng(rng)

    # Sort examples by content group: group g occupies order[start[g]:end[g]].
    key_ids = {}
    groups = np.array(
        [key_ids.setdefault(_hashable(key), len(key_ids)) for key in content_ids],
        dtype=np.int64,
    )
    order = np.argsort(groups, kind="stable")
    sizes = np.bincount(groups, minlength=len(key_ids))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    num_wrong = num_candidates - 1
    largest = int(np.argmax(sizes))
    if num_examples - sizes[largest] < num_wrong:
        example = int(np.flatnonzero(groups == largest)[0])
        raise ValueError(
            f"Example {example} (content id {content_ids[example]!r}) has only "
            f"{num_examples - sizes[largest]} examples with different content, but "
            f"num_candidates={num_candidates} needs {num_wrong}: evaluate on more "
            "examples or use fewer candidates."
        )

    candidate_sets = np.empty((num_examples, num_candidates), dtype=np.int64)
    candidate_sets[:, 0] = np.arange(num_examples)
    for i in range(num_examples):
        group = groups[i]
        # Uniform positions in the sorted order with the example's own group
        # cut out: positions at or after its start skip over the group.
        positions = rng.choice(num_examples - sizes[group], size=num_wrong, replace=False)
        positions[positions >= starts[group]] += sizes[group]
        candidate_sets[i, 1:] = order[positions]
    return candidate_sets


def candidate_scores(query_features, candidate_features, candidate_sets, chunk_size=1024):
    """Cosine similarity of each query with each of its candidates.

        scores[i, k] = cos(query_features[i], candidate_features[candidate_sets[i, k]])

    AttnGAN's R-precision score: the DAMSM global image feature of generated
    image i against the DAMSM sentence features of its candidate captions.

    Args:
        query_features: `[N, D]` array, e.g. global image features.
        candidate_features: `[M, D]` array, e.g. sentence features.
        candidate_sets: `[N, K]` int array of rows of `candidate_features`,
            from `sample_candidates`.
        chunk_size: queries per step (bounds memory to chunk_size * K * D).

    Returns:
        `[N, K]` float64 array of cosine similarities.

    Raises:
        ValueError: shapes are inconsistent or an index is out of range.
    """
    query_features = np.asarray(query_features, dtype=np.float64)
    candidate_features = np.asarray(candidate_features, dtype=np.float64)
    candidate_sets = np.asarray(candidate_sets)
    if (
        query_features.ndim != 2
        or candidate_features.ndim != 2
        or query_features.shape[1] != candidate_features.shape[1]
        or candidate_sets.ndim != 2
        or candidate_sets.shape[0] != query_features.shape[0]
    ):
        raise ValueError(
            "Expected query_features [N, D], candidate_features [M, D] and "
            f"candidate_sets [N, K], got {query_features.shape}, "
            f"{candidate_features.shape} and {candidate_sets.shape}."
        )
    if candidate_sets.size and (
        candidate_sets.min() < 0 or candidate_sets.max() >= len(candidate_features)
    ):
        raise ValueError(
            f"candidate_sets index rows 0..{len(candidate_features) - 1} of "
            "candidate_features; found an index out of that range."
        )
    queries = _unit_rows(query_features)
    candidates = _unit_rows(candidate_features)
    scores = np.empty(candidate_sets.shape, dtype=np.float64)
    for start in range(0, len(queries), chunk_size):
        stop = start + chunk_size
        scores[start:stop] = np.einsum(
            "nd,nkd->nk", queries[start:stop], candidates[candidate_sets[start:stop]]
        )
    return scores


def r_precision(scores):
    """Fraction of queries whose true candidate scores highest (`r_precision_hits`' mean).

        R-precision = (1/N) sum_i [ scores[i, 0] > scores[i, k] for all k >= 1 ]

    Column 0 holds the true caption's score (the layout of
    `sample_candidates`). A tie for the top counts as 1 / (number of tied
    candidates), the expected hit of breaking it at random, so a constant
    scorer gets chance level 1/K instead of a perfect score.

    Args:
        scores: `[N, K]` array; `scores[i, k]` is the score of query i
            against its candidate k, column 0 the true one (K = 100 in
            AttnGAN).

    Returns:
        The mean hit rate in [0, 1] as a Python float.

    Raises:
        ValueError: `scores` is not `[N, K]` with N >= 1 and K >= 2, or has
            NaN values.
    """
    return float(r_precision_hits(scores).mean())


def r_precision_hits(scores):
    """The hit of each query: 1 when its true candidate (column 0) scores highest, else 0.

    A tie for the top scores 1 / (number of tied candidates); see
    `r_precision`, whose value is the mean of these. Per-query hits let a
    caller score groups of queries (e.g. by the word their captions say)
    within one candidate draw.

    Returns:
        float64 `[N]` in [0, 1].

    Raises:
        ValueError: as `r_precision`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 2:
        raise ValueError(
            "scores must be a [N, K] array with column 0 the true candidate, "
            f"N >= 1 and K >= 2, got shape {scores.shape}."
        )
    if np.any(np.isnan(scores)):
        raise ValueError("scores contain NaN values.")
    true_scores = scores[:, :1]
    wrong_scores = scores[:, 1:]
    beaten = np.any(wrong_scores > true_scores, axis=1)
    ties = np.sum(wrong_scores == true_scores, axis=1)
    return np.where(beaten, 0.0, 1.0 / (1.0 + ties))


def _hashable(key):
    """Makes list and array keys (e.g. a row of attributes) usable in a dict."""
    if isinstance(key, (list, np.ndarray)):
        return tuple(np.asarray(key).tolist())
    return key


def _unit_rows(features):
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def r_precision_from_features(
    image_features, sentence_features, content_ids, num_candidates=100, seed=0
):
    """R-precision of paired features: each image's own caption first among the candidates.

    The wrong candidates are captions of examples with another content id
    (another product; on the embedded data another class/colour/pattern
    combination), so a caption that says the same thing is never a
    "wrong" answer.

    Args:
        image_features: [N, D] global image features.
        sentence_features: [N, D] sentence features, row i the caption of
            image i.
        content_ids: [N] ids, equal for examples that show the same thing.
        num_candidates: captions ranked per image (AttnGAN: 100).
        seed: seed of the candidate draw.
    """
    return float(
        r_precision_hits_from_features(
            image_features, sentence_features, content_ids, num_candidates, seed
        ).mean()
    )


def r_precision_hits_from_features(
    image_features, sentence_features, content_ids, num_candidates=100, seed=0
):
    """Per-image hits behind `r_precision_from_features` (same arguments, same draw): `[N]`."""
    candidate_sets = sample_candidates(len(content_ids), num_candidates, content_ids, rng=seed)
    return r_precision_hits(candidate_scores(image_features, sentence_features, candidate_sets))
