"""WordNet senses of colour and garment words, and the unseen words they fill."""

import numpy as np
import pytest

from fashion_t2i.text import colour_names
from fashion_t2i.text import unseen_words
from fashion_t2i.text import word_senses

# A WordNet `data.noun` in miniature: offset, lexicographer file, type, lemma
# count (hex), lemmas with their lex ids, pointer count, pointers | gloss.
DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
00000001 07 n 01 color 0 000 | a visual attribute of things
00000002 07 n 02 black 0 blackness 0 001 @ 00000001 n 0000 | the darkest colour
00000003 07 n 04 coal_black 0 ebony 0 jet_black 0 Sable 0 001 @ 00000002 n 0000 | a very dark black
00000010 06 n 01 clothing 0 000 | a covering designed to be worn on a person's body
00000011 06 n 02 trouser 0 pant 0 001 @ 00000010 n 0000 | a garment for the legs
00000013 06 n 02 workwear 0 dress 0 001 @ 00000010 n 0000 | clothing for work
00000012 06 n 03 jean 0 blue_jean 0 denim 0 002 @ 00000011 n 0000 @ 00000013 n 0000 | trousers of denim
00000014 06 n 01 jean 0 000 | a twill fabric, under no root
"""
ROOTS = (
    ("00000001", "colour", "a visual attribute"),
    ("00000010", "garment", "a covering designed"),
)


def write_table(tmp_path):
    data = tmp_path / "data.noun"
    data.write_text(DATA_NOUN, encoding="latin-1")
    return word_senses.build_table(word_senses.read_wordnet_nouns(str(data)), ROOTS)


def test_the_table_lists_each_one_word_lemma_under_a_root_with_its_hypernyms(tmp_path):
    assert write_table(tmp_path) == [
        "black\tcolour\tblackness\t",
        "blackness\tcolour\tblack\t",
        "clothing\tgarment\t\t",
        "color\tcolour\t\t",
        "denim\tgarment\tjean,blue_jean\ttrouser,pant,workwear,dress",
        "dress\tgarment\tworkwear\t",
        "ebony\tcolour\tcoal_black,jet_black,sable\tblack,blackness",
        # Both hypernyms are one level up; the fabric sense lies under no root.
        "jean\tgarment\tblue_jean,denim\ttrouser,pant,workwear,dress",
        "pant\tgarment\ttrouser\t",
        "sable\tcolour\tcoal_black,ebony,jet_black\tblack,blackness",
        "trouser\tgarment\tpant\t",
        "workwear\tgarment\tdress\t",
    ]


def test_a_root_that_is_not_wordnet_3_0s_is_refused(tmp_path):
    data = tmp_path / "data.noun"
    data.write_text(DATA_NOUN, encoding="latin-1")
    synsets = word_senses.read_wordnet_nouns(str(data))
    with pytest.raises(ValueError, match="00000001 is not 'a kind of fruit'"):
        word_senses.build_table(synsets, (("00000001", "colour", "a kind of fruit"),))
    with pytest.raises(ValueError, match="00000099"):
        word_senses.build_table(synsets, (("00000099", "colour", "a visual"),))


def test_a_line_that_is_not_wordnets_is_named(tmp_path):
    data = tmp_path / "data.noun"
    data.write_text(DATA_NOUN + "\n00000099 06 n 02 cloak 0\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"data.noun:11: not a line of a WordNet 3.0"):
        word_senses.read_wordnet_nouns(str(data))
    data.write_text(DATA_NOUN.replace("001 @ 00000001 n 0000 |", "001 @ 00000001 |"))
    with pytest.raises(ValueError, match=r"data.noun:3: not a line"):
        word_senses.read_wordnet_nouns(str(data))


def test_a_written_table_reads_back_as_senses(tmp_path):
    (tmp_path / "data.noun").write_text(DATA_NOUN, encoding="latin-1")
    path = tmp_path / "senses.tsv"
    lines = word_senses.write_table(str(tmp_path), str(path), ROOTS)
    assert lines == write_table(tmp_path)
    senses = word_senses.read_word_senses(str(path))
    hypernyms = (("trouser", "pant", "workwear", "dress"),)
    assert senses["jean"] == (word_senses.Sense("garment", ("blue_jean", "denim"), hypernyms),)
    assert senses["ebony"][0].hypernyms == (("black", "blackness"),)
    assert senses["color"] == (word_senses.Sense("colour", (), ()),)


def test_a_directory_without_wordnet_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="No WordNet data.noun in"):
        word_senses.write_table(str(tmp_path), str(tmp_path / "senses.tsv"))
    assert not (tmp_path / "senses.tsv").exists()


def test_a_malformed_line_is_named(tmp_path):
    path = tmp_path / "senses.tsv"
    path.write_text("# comment\nebony\tcolor\tjet_black\tblack\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"senses.tsv:2: expected .*'ebony\\tcolor"):
        word_senses.read_word_senses(str(path))


def test_plurals_find_their_singular():
    senses = {"jean": ("j",), "slipper": ("s",), "accessory": ("a",), "dress": ("d",)}
    assert word_senses.senses_of("jeans", senses) == ("j",)
    assert word_senses.senses_of("slippers", senses) == ("s",)
    assert word_senses.senses_of("accessories", senses) == ("a",)
    assert word_senses.senses_of("dress", senses) == ("d",)
    assert word_senses.senses_of("zzqxv", senses) == ()


def test_sources_are_named_by_synonyms_heads_and_plurals_in_their_own_domain():
    senses = {
        "ebony": (word_senses.Sense("colour", ("coal_black", "jet_black"), (("black",),)),),
        "charcoal": (
            word_senses.Sense("garment", ("fusain",), ()),
            word_senses.Sense("colour", ("charcoal_grey",), (("gray", "grey"),)),
        ),
        "jean": (word_senses.Sense("garment", ("denim",), (("trouser", "pant"), ("dress",))),),
    }
    sources = {"colour": {"black", "grey"}, "garment": {"trousers", "dress"}}
    assert word_senses.sources_of("ebony", senses, sources) == ("black", "black")
    assert word_senses.sources_of("charcoal", senses, sources) == ("grey", "grey")
    # The nearest level first; "trouser" names the captions' "trousers".
    assert word_senses.sources_of("jeans", senses, sources) == (None, "trousers")
    # A colour sense never reads as a garment word, nor the other way.
    assert word_senses.sources_of("ebony", senses, {"garment": {"black"}}) == (None, None)
    assert word_senses.sources_of("zzqxv", senses, sources) == (None, None)


def test_the_bundled_table_knows_the_fashion_words():
    senses = word_senses.read_word_senses()
    assert len(senses) > 500
    assert "jet_black" in senses["ebony"][0].synonyms
    sources = {"colour": {"black", "grey", "red"}, "garment": {"jacket", "trousers", "bag"}}
    assert word_senses.sources_of("ebony", senses, sources)[0] == "black"
    assert word_senses.sources_of("charcoal", senses, sources)[0] == "grey"
    assert word_senses.sources_of("blazer", senses, sources)[0] == "jacket"
    assert word_senses.sources_of("jeans", senses, sources)[1] == "trousers"
    assert word_senses.sources_of("purse", senses, sources)[0] == "bag"


# Seen: red, black, jacket. Unseen: ebony (a synonym of black whose colour in
# the table is nearer red), scarlet (a hypernym names black, the table red),
# blazer (a hypernym names jacket, the vectors say red), zzqxv (no sense).
TOKENS = ["[PAD]", "[UNK]", "red", "black", "jacket", "ebony", "scarlet", "blazer", "zzqxv"]
VECTORS = np.array(
    [[0, 0], [0, 0], [1, 0], [0, 1], [-1, 0], [1, 0.1], [1, 0.2], [1, 0.3], [1, 0.4]]
)
EMBEDDINGS = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]] + [[9, 9, 9]] * 4)
SENSES = {
    "ebony": (word_senses.Sense("colour", ("jet_black",), (("black",),)),),
    "scarlet": (word_senses.Sense("colour", (), (("black",),)),),
    "blazer": (word_senses.Sense("garment", ("sport_coat",), (("jacket",), ("coat",))),),
}
COLOURS = {
    "red": colour_names.srgb_to_lab([200, 30, 35]),
    "black": colour_names.srgb_to_lab([20, 20, 20]),
    "ebony": colour_names.srgb_to_lab([150, 40, 40]),
    "scarlet": colour_names.srgb_to_lab([220, 30, 30]),
}


def read_as(**kwargs):
    ids, rows, sources = unseen_words.fill_embeddings(
        EMBEDDINGS, VECTORS, TOKENS, {"red", "black", "jacket"}, **kwargs
    )
    for row, source in zip(rows, sources):
        np.testing.assert_array_equal(row, EMBEDDINGS[source])
    return {TOKENS[i]: TOKENS[j] for i, j in zip(ids, sources)}


def test_a_synonym_comes_before_the_colour_table_and_a_hypernym_after_it():
    assert read_as(colours=COLOURS) == {
        "ebony": "red", "scarlet": "red", "blazer": "red", "zzqxv": "red",
    }
    assert read_as(colours=COLOURS, senses=SENSES) == {
        "ebony": "black", "scarlet": "red", "blazer": "jacket", "zzqxv": "red",
    }
    # Without the colour table a hypernym comes before the vectors.
    assert read_as(senses=SENSES)["scarlet"] == "black"


def test_a_colour_sense_reads_only_as_the_colour_sources():
    filled = read_as(colours=COLOURS, senses=SENSES, colour_sources={"red"})
    assert filled["ebony"] == "red"  # black is no source: the colour table decides
    assert filled["blazer"] == "jacket"  # garments read as any seen word
