"""RunContext.for_training: the vocabulary it writes into a new run directory, and the
unseen words the DAMSM phase fills in it, and a run with its evaluations off."""


import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_fixtures import tiny_embedded_data
from fashion_t2i.config import get_preset
from fashion_t2i import train_lib
from fashion_t2i.data.fashion_gen_reader import FashionGenReader
from fashion_t2i.run_context import RunContext
from fashion_t2i.text import colour_names
from fashion_t2i.text import unseen_words
from fashion_t2i.text import vocabulary as vocabulary_lib
from summary_fixtures import summary_tags

# In frequency order, as in a vectors file; the first three a caption can
# give are "quokka", "xylophone" and "zeppelin" (no caption says them).
VECTOR_WORDS = ["Quokka", "quokka", ",", "xylophone", "well-known", "zeppelin", "ukulele"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny embedded data (24 train, 8 validation images of 16 px) from fake IDX files."""
    train_path, validation_path = tiny_embedded_data(tmp_path_factory.mktemp("data"), size=16)
    return {"train_path": train_path, "validation_path": validation_path}


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vectors")
    matrix = np.arange(len(VECTOR_WORDS) * 2, dtype=np.float32).reshape(-1, 2)
    np.save(directory / "vectors.npy", matrix)
    pq.write_table(pa.table({"word": VECTOR_WORDS}), directory / "index.parquet")
    return str(directory)


def vectors_config(data, vectors, embedding_mode, **model):
    """The smoke preset on the tiny data, with the tiny vectors' 3 words in its vocabulary."""
    return get_preset("smoke").replace(
        data=data,
        text={"pretrained_words": 3},
        model={
            "word_vectors_path": vectors,
            "embedding_mode": embedding_mode,
            "word_vectors_dim": 2,
            **model,
        },
    )


def training_vocabulary(data, vectors, workdir):
    config = vectors_config(data, vectors, "projected_offsets")
    context = RunContext.for_training(config, str(workdir), log_fn=lambda message: None)
    with open(context.vocabulary_path, encoding="utf-8") as f:
        return f.read()


def test_the_vocabulary_is_the_training_words_then_the_vector_words(data, vectors, tmp_path):
    text = training_vocabulary(data, vectors, tmp_path / "run")

    tokens = text.splitlines()
    captions = FashionGenReader.from_config(
        data["train_path"], get_preset("smoke").data
    ).captions()
    training = vocabulary_lib.build_vocabulary(captions)
    assert len(training) > 10
    assert tokens[: len(training)] == training
    assert tokens[len(training):] == ["quokka", "xylophone", "zeppelin"]
    assert tokens == vocabulary_lib.load_vocabulary(str(tmp_path / "run" / "vocabulary.txt"))


def test_the_vocabulary_is_the_same_in_a_second_run(data, vectors, tmp_path):
    first = training_vocabulary(data, vectors, tmp_path / "first")
    second = training_vocabulary(data, vectors, tmp_path / "second")
    assert first == second


def filled_rows(encoder, context):
    """`(embedding of every token, whether the unseen words hold their filled rows)`."""
    tokens = context.tokenizer.tokens
    embeddings = np.asarray(encoder.embed(np.arange(len(tokens))[None]))[0]
    seen = vocabulary_lib.build_vocabulary(context.train_reader.captions())
    sources = unseen_words.one_colour_words(
        context.train_reader.captions(), context.train_reader.attribute_ids("colour_id")
    )
    ids, rows, _ = unseen_words.fill_embeddings(
        embeddings, np.asarray(encoder.embedding.embeddings), tokens, seen,
        colour_names.read_colour_names(), colour_sources=sources,
    )
    return embeddings, np.allclose(embeddings[ids], rows, atol=1e-5)


def test_the_damsm_phase_saves_the_unseen_words_filled(data, vectors, tmp_path):
    """The checkpoint of a DAMSM phase holds the filled rows of the words no caption used."""
    config = vectors_config(
        data, vectors, "table_and_projected", unseen_words="vectors_and_colours"
    ).replace(train={"phase": "damsm", "eval_every": 1})
    workdir = str(tmp_path / "run")
    messages = []
    train_lib.train(config, workdir, log_fn=messages.append)

    context = RunContext.open(workdir)
    encoder = context.restore_damsm().text_encoder
    _, filled = filled_rows(encoder, context)
    assert filled
    fill_messages = [m for m in messages if "words no training caption uses" in m]
    assert fill_messages == [
        "[damsm] 3 words no training caption uses read as the training words nearest to "
        "them (unseen_words=vectors_and_colours; unseen_words.json lists them)"
    ]
    read_as = unseen_words.read_as(workdir)
    seen = set(vocabulary_lib.build_vocabulary(context.train_reader.captions()))
    assert sorted(read_as) == ["quokka", "xylophone", "zeppelin"]
    assert set(read_as.values()) <= seen
    # Filled before the first evaluation, so that it measures them filled.
    first_evaluation = next(
        i for i, m in enumerate(messages) if "validation R-precision (top-1" in m
    )
    assert messages.index(fill_messages[0]) < first_evaluation


# Not what these tests are about, and each costs a smoke run time: L_similarity
# in the generator's step (lambda = 0 skips the image encoder there) and the
# training-time evaluations and images.
QUIET = {"similarity_weight": 0.0, "eval_every": 0, "image_every": 0}


@pytest.fixture(scope="module")
def unfilled_run(data, vectors, tmp_path_factory):
    """Both smoke phases trained with `unseen_words="none"` and the evaluations off."""
    config = vectors_config(data, vectors, "table_and_projected").replace(train=QUIET)
    workdir = tmp_path_factory.mktemp("unfilled") / "run"
    messages = []
    train_lib.train(config, str(workdir), log_fn=messages.append)
    return {"config": config, "workdir": workdir, "messages": messages}


def test_a_run_with_the_evaluations_off_evaluates_nothing_not_even_at_the_end(unfilled_run):
    messages = unfilled_run["messages"]
    config = unfilled_run["config"]
    steps = {"damsm": config.train.damsm_steps, "gan": config.train.gan_steps}
    for phase, count in steps.items():
        assert any(m.startswith(f"[{phase}] step {count}/{count}") for m in messages), phase
    for evaluation in ("R-precision", "L_similarity of generated", "variety of",
                       "attribute accuracy", "attribute classifier"):
        assert not any(evaluation in m for m in messages), evaluation
    logs = unfilled_run["workdir"] / "logs"
    for phase, loss in (("damsm", "similarity_loss"), ("gan", "generator_loss")):
        tags = summary_tags(str(logs / phase))
        assert f"loss/{loss}" in tags, phase
        assert not [tag for tag in tags if tag.startswith("eval/") or "attention" in tag
                    or tag.startswith("gan/")], tags
    # No classifier was trained for them.
    assert not (unfilled_run["workdir"] / "eval").exists()


def test_a_run_trained_without_filling_gets_its_words_filled_when_resumed(unfilled_run, tmp_path):
    config = unfilled_run["config"]
    workdir = str(tmp_path / "run")
    shutil.copytree(unfilled_run["workdir"], workdir)
    context = RunContext.open(workdir)
    before, filled = filled_rows(context.restore_gan()[0].text_encoder, context)
    assert not filled

    messages = []
    train_lib.train(
        config.replace(model={"unseen_words": "vectors_and_colours"}), workdir,
        log_fn=messages.append,
    )
    context = RunContext.open(workdir)
    assert context.config.model.unseen_words == "vectors_and_colours"
    gan, step = context.restore_gan()
    assert step == config.train.gan_steps  # no step trained again
    for encoder in (context.restore_damsm().text_encoder, gan.text_encoder):
        after, filled = filled_rows(encoder, context)
        assert filled
        seen = len(vocabulary_lib.build_vocabulary(context.train_reader.captions()))
        np.testing.assert_array_equal(after[:seen], before[:seen])
    assert sum("words no training caption uses" in m for m in messages) == 2
    assert any(m.startswith("[gan] checkpoint") for m in messages)

    # Resumed again, the GAN's words are filled already: its checkpoint is
    # not written again.
    messages = []
    train_lib.train(
        config.replace(model={"unseen_words": "vectors_and_colours"}), workdir,
        log_fn=messages.append,
    )
    assert not any(m.startswith("[gan] checkpoint") for m in messages)
