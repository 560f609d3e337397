"""The one analyzer: the same terms for indexing, queries and TF-IDF."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from search import analysis


def test_pipeline_lowercases_folds_drops_stop_words_and_stems():
    assert analysis.analyze("Can Ketamine trigger Serotonin Syndrome?") == ["ketamin", "trigger", "serotonin", "syndrom"]
    assert analysis.analyze("Naïve CAFÉ") == ["naiv", "cafe"]


def test_possessives_and_apostrophes():
    assert analysis.analyze("ketamine's effects") == ["ketamin", "effect"]
    assert analysis.analyze("it doesn’t work") == ["work"]


def test_tokens_keep_surface_forms_spans_and_gapless_positions():
    text = "The calories in weed"
    tokens = analysis.tokens(text)
    assert [(t.term, t.surface, t.position) for t in tokens] == [("calori", "calories", 0), ("weed", "weed", 1)]
    assert [text[t.start:t.end] for t in tokens] == ["calories", "weed"]


def test_analyze_matches_tokens():
    text = "Medication-assisted treatment (MAT) for opioid use disorder, 2024 guidance."
    assert analysis.analyze(text) == [t.term for t in analysis.tokens(text)]


def test_other_scripts_and_control_characters_do_not_break_it():
    assert analysis.analyze("大麻 \x00 марихуана ☃") == ["大麻", "марихуана"]
    assert analysis.analyze("") == []


def test_words_are_folded_before_they_are_lower_cased():
    # NFKD turns some characters into capitals ("\u211b" is a script R): lower-casing last
    # makes them one word with their plain spelling.
    assert analysis.analyze("\u211b1 R1 r1") == ["r1", "r1", "r1"]


def _sample_site_text() -> str:
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(sample.rglob("*")) if p.is_file())


def test_the_tokenizer_splits_as_nltks_regexp_tokenizer():
    from nltk.tokenize import RegexpTokenizer

    text = _sample_site_text() + " don\u2019t l'\u00e9t\u00e9 \u5927\u9ebb x_y 3.5mg"
    reference = RegexpTokenizer(analysis.TOKEN_PATTERN)
    # Stop words included: every word the tokenizer finds.
    assert list(reference.span_tokenize(text)) == [m.span() for m in analysis.word_matches(text)]


def test_the_stemmer_stems_as_nltks_snowball_english():
    from nltk.stem.snowball import SnowballStemmer

    reference = SnowballStemmer("english")
    words = set(analysis.words(_sample_site_text())) | {
        "generously", "consistency", "hopefulness", "dying", "skies", "news", "proceeding", "cannabinoids",
        "ketamine", "organizations", "succeeded", "relational", "communism", "arguing", "opioids", "abusive"}
    assert {w: analysis.stem(w) for w in words} == {w: reference.stem(w) for w in words}


def test_settings_describe_the_pipeline():
    settings = analysis.settings()
    assert settings["version"] == analysis.ANALYZER_VERSION
    assert "snowball-english" in settings["filters"]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_fold_equals_folding_the_whole_text_at_once(text):
    # fold() folds each run of non-ASCII characters apart; the result must not depend on that.
    decomposed = unicodedata.normalize("NFKD", text)
    assert analysis.fold(text) == "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def test_fold_drops_a_combining_accent_after_an_ascii_letter():
    assert analysis.fold("cafe\u0301 na\u00efve \ufb01") == "cafe naive fi"
