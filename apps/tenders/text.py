"""Words for matching tenders and inquiries to a catalog: the same normalisation on both sides."""

from __future__ import annotations

import re

STOPWORDS = frozenset({
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is", "it", "of", "on", "or", "per",
    "the", "to", "with", "without", "set", "pack", "nos", "no", "piece", "pieces", "pcs", "kg", "gm", "gms",
    "g", "ml", "l", "ltr", "mm", "cm", "size", "type", "item", "items", "supply", "supplies", "purchase",
    "procurement", "new", "made",
})
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words of three or more letters, stopwords dropped, a plural 's' folded ("bags" -> "bag")."""
    found = []
    for word in _WORD.findall((text or "").lower()):
        if len(word) < 3 or word in STOPWORDS or word.isdigit():
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if word not in found:
            found.append(word[:40])
    return found
