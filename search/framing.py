"""Words that frame a request rather than say what it is about.

Long questions and copied requests open with a formula ("I would be pleased to receive any
papers on ...", "I am also interested in ...") and cite with abbreviations ("e.g.", "i.e.").
None of these are stop words, and in an index of abstracts "pleased" or a lone "g" is rare, so
BM25 gives it the highest weight of the query. They are removed before the query is planned
(measured on the judged collections of docs/search.md: the two with long requests and
questions gain, the others are unchanged). English, like the stop word list.
"""

from __future__ import annotations

import re

_ASIDE = r"(?:also|especially|particularly|very|most|more)"
_WANTING = r"(?:interested|pleased|grateful|glad|happy|keen)"
_RECEIVING = r"(?:in|to\s+(?:receive|have|see|get|know|find|learn|read)|for|with)"
_MATERIAL = r"(?:information|papers|articles|literature|materials?|documents|publications|references)"
_ABOUT = r"(?:on|about|regarding|concerning|dealing\s+with|relating\s+to|giving|in|from)"
REQUEST = re.compile(
    rf"\b(?:i|we)\s+(?:am|are|'m|would\s+be|should\s+be|shall\s+be|will\s+be|would|should)\s+(?:{_ASIDE}\s+)?"
    rf"{_WANTING}\s+{_RECEIVING}?(?:\s+(?:any|all))?(?:\s+{_MATERIAL}(?:\s+{_ABOUT})?)?",
    re.IGNORECASE,
)
ABBREVIATION = re.compile(r"(?<!\w)(?:e\.\s?g|i\.\s?e|etc|viz|cf)(?:\.|(?!\w))", re.IGNORECASE)


def strip_framing(text: str) -> str:
    """`text` without request formulas and citing abbreviations (each replaced by a space)."""
    return ABBREVIATION.sub(" ", REQUEST.sub(" ", text))
