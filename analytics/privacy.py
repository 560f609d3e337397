"""What readers type may identify them: e-mail addresses and numbers are taken out of
queries before anything is stored (names and conditions cannot be recognized reliably)."""

from __future__ import annotations

import re

EMAIL_MARK = "[email]"
NUMBER_MARK = "[number]"
MARKS = (EMAIL_MARK, NUMBER_MARK)

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits with the separators phone numbers and ids are written with.
_DIGITS = re.compile(r"\+?\(?\d[\d\s().\-/]*\d\)?|\d")
# Phone numbers have seven digits or more; ZIP codes, record numbers, card and social security
# numbers have runs of five or more. Years and doses ("2024", "10 mg") stay.
MIN_NUMBER_DIGITS = 7
MIN_DIGIT_RUN = 5
_RUN = re.compile(rf"\d{{{MIN_DIGIT_RUN},}}")


def _number(match: re.Match) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    return NUMBER_MARK if digits >= MIN_NUMBER_DIGITS or _RUN.search(text) else text


def scrub(text: str) -> str:
    """`text` with e-mail addresses and phone-like or long numbers replaced by a mark."""
    return _DIGITS.sub(_number, _EMAIL.sub(EMAIL_MARK, text))


def unmarked(text: str) -> str:
    """`text` without the marks `scrub` left (they are not words a reader typed)."""
    for mark in MARKS:
        text = text.replace(mark, " ")
    return " ".join(text.split())
