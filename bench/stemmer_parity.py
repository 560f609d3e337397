"""Kindred's stemmer (PyStemmer's Snowball English) against NLTK's SnowballStemmer("english")
on every distinct word of every shared corpus.

    python bench/stemmer_parity.py [--json PATH]

The words are the analyzer's own surface forms (folded, lower-case, possessives dropped)
of every title and body. NLTK is the reference; it differs from the Snowball reference
algorithm (which PyStemmer runs) on a few words where NLTK keeps a final "e" that Snowball's
step 5 removes: NLTK shortens its R2 region with a step-2 suffix and then tests the stale
region ("quantization": Snowball "quantiz", NLTK "quantize"). `nltk_deviation`
recognises those words; any other difference fails the check (exit status 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse
import re
import time

from bench.common import RESULTS, write_json
from bench.corpora import CORPORA, read

# NLTK's deviation: a step-2 suffix of one of these families, and NLTK keeps the final "e".
NLTK_DEVIATION = re.compile(r"(?:iz(?:ation|er)s?|ational(?:ly|ism|ity|ities)?)$")


def nltk_deviation(word: str, kindred: str, nltk: str) -> bool:
    return nltk == kindred + "e" and NLTK_DEVIATION.search(word) is not None


def corpus_words() -> dict[str, set[str]]:
    from search import analysis

    found: dict[str, set[str]] = {}
    for folder in sorted(p for p in CORPORA.iterdir() if p.is_dir()):
        words: set[str] = set()
        for doc in read(folder.name):
            words.update(analysis.words(f"{doc.get('title') or ''}\n{doc.get('body') or ''}"))
        found[folder.name] = words
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=RESULTS / "stemmer_parity.json")
    args = parser.parse_args()
    from nltk.stem.snowball import SnowballStemmer

    from search import analysis

    reference = SnowballStemmer("english")
    started = time.perf_counter()
    by_corpus = corpus_words()
    words = set().union(*by_corpus.values())
    differing = sorted(w for w in words if analysis.stem(w) != reference.stem(w))
    unexpected = [w for w in differing if not nltk_deviation(w, analysis.stem(w), reference.stem(w))]
    result = {
        "corpora": {name: len(found) for name, found in by_corpus.items()},
        "distinct_words": len(words),
        "differing": {w: {"kindred": analysis.stem(w), "nltk": reference.stem(w)} for w in differing},
        "unexpected": unexpected,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.json, result)
    print(f"{len(words):,} distinct words in {len(by_corpus)} corpora; {len(differing)} stemmed differently "
          f"(NLTK's known deviations from Snowball), {len(unexpected)} unexpected")
    for word in unexpected:
        print(f"  {word}: kindred {analysis.stem(word)!r}, nltk {reference.stem(word)!r}")
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
