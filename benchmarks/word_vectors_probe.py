"""What a map of the word vectors can know about the held-out synonyms.

A text encoder reads a word it never saw in a training caption only through
its pretrained vector. This measures, with no network at all, how much of a
held-out synonym's meaning those vectors carry for the embedded data's
attributes:

- `nearest`: the attribute of the closest training synonym (cosine);
- `linear`: a softmax regression fitted on the vectors of the training
  synonyms (one example per synonym; a multi-word synonym is the mean of its
  words' vectors) and applied to the held-out synonym.

Both are the ceiling of a linear reading of the vectors: an encoder whose
map from vectors to meaning is learnt from the training synonyms can hardly
do better on the held-out ones.

Run:
    python -m benchmarks.word_vectors_probe [--word_vectors glove-6b-50d]
"""

import numpy as np
from absl import app
from absl import flags


def phrase_vector(phrase, index, vectors):
    """Unit mean vector of the words of `phrase` found in the vectors, or None."""
    words = [w for w in phrase.replace("-", " ").split() if w in index]
    if not words:
        return None
    mean = np.mean([vectors[index[w]] for w in words], axis=0)
    return mean / np.linalg.norm(mean)


def softmax_regression(features, labels, num_classes, steps=3000, learning_rate=0.5,
                       weight_decay=1e-3):
    """Multinomial logistic regression by gradient descent: `(weights [d, K], bias [K])`."""
    weights = np.zeros((features.shape[1], num_classes))
    bias = np.zeros(num_classes)
    for _ in range(steps):
        logits = features @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[np.arange(len(labels)), labels] -= 1.0
        weights -= learning_rate * (
            features.T @ probabilities / len(labels) + weight_decay * weights
        )
        bias -= learning_rate * probabilities.mean(axis=0)
    return weights, bias


def probe(training_words, held_out_words, index, vectors):
    """Nearest-synonym and linear accuracy on the held-out words of one attribute.

    Args:
        training_words: per attribute value, its training synonyms.
        held_out_words: per attribute value, its held-out synonym or None.

    Returns:
        {"nearest", "linear": accuracy, "words": number of held-out words,
        "predictions": {held-out word: (nearest value, linear value)}}.
    """
    features, labels, synonyms = [], [], []
    for value, phrases in enumerate(training_words):
        for phrase in phrases:
            vector = phrase_vector(phrase, index, vectors)
            if vector is not None:
                features.append(vector)
                labels.append(value)
                synonyms.append(vector)
    features = np.asarray(features)
    labels = np.asarray(labels)
    weights, bias = softmax_regression(features, labels, len(training_words))
    predictions, nearest_hits, linear_hits = {}, [], []
    for value, word in enumerate(held_out_words):
        vector = None if word is None else phrase_vector(word, index, vectors)
        if vector is None:
            continue
        nearest = int(labels[np.argmax(features @ vector)])
        linear = int(np.argmax(vector @ weights + bias))
        predictions[word] = (nearest, linear)
        nearest_hits.append(nearest == value)
        linear_hits.append(linear == value)
    return {
        "nearest": float(np.mean(nearest_hits)),
        "linear": float(np.mean(linear_hits)),
        "words": len(nearest_hits),
        "predictions": predictions,
    }


def run(source="glove-6b-50d"):
    """The probe of the colour and class synonyms: {"colour": ..., "class": ...}."""
    from fashion_t2i.data import attributes
    from fashion_t2i.text import word_vectors

    words, vectors = word_vectors.read_word_vectors(source)
    index = {}
    for position, word in enumerate(words):
        index.setdefault(word, position)
    return {
        "colour": probe(
            attributes.COLOUR_WORDS, attributes.HELD_OUT_COLOUR_WORDS, index, vectors
        ),
        "class": probe(attributes.CLASS_WORDS, attributes.HELD_OUT_CLASS_WORDS, index, vectors),
    }


def report(results):
    from fashion_t2i.data import attributes

    names = {"colour": attributes.COLOUR_NAMES, "class": attributes.CLASS_NAMES}
    lines = []
    for attribute, result in results.items():
        lines.append(
            f"{attribute}: {result['words']} held-out words, nearest training synonym "
            f"{result['nearest']:.2f}, linear map {result['linear']:.2f}"
        )
        for word, (nearest, linear) in result["predictions"].items():
            lines.append(
                f"  {word:<10} nearest -> {names[attribute][nearest]:<12} "
                f"linear -> {names[attribute][linear]}"
            )
    return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("word_vectors", "glove-6b-50d", "Word vectors source (as --word_vectors).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    print(report(run(FLAGS.word_vectors)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
