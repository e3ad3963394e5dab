"""The one check for a person's name in public text (crime log, fire log, notifications).

Text and names are folded the same way before they are compared: Unicode NFKD with the combining
marks dropped (so "Zoë" is "Zoe" and full-width letters are plain ones), case folded, and the
typographic apostrophes and dashes made plain (a right single quotation mark is "'"). A name matches as whole
words: the full name (its parts in order, with any spacing, hyphen or apostrophe between them, or
none: "O'Neil", "O Neil", "ONeil"), each name part written with a hyphen or an apostrophe, on
its own and spelled the same ways ("Zoë O'Neil": "O'Neil", "O Neil", "ONeil"; "Jean-Luc":
"JeanLuc"), and each piece of two or more letters on its own.

Safety comes before convenience: a victim called "Mark Long" makes "long-term" text refuse,
since a word that is also a name part cannot be told from the name. The staff rewords or
withholds; a published name cannot be taken back. Only name particles, titles and generational
suffixes ("van", "de", "Dr", "Jr") are not matched alone: they identify nobody, and "van" or
"de" are ordinary words of public text. They still count inside the full name.
"""

from __future__ import annotations

__all__ = ["fold", "mentions_name", "names_in"]

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Typographic forms of the apostrophe and of the hyphen, as the folded text spells them.
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2018\u2019\u201b\u02bc\u02b9\u2032\u00b4\u0060", "'"))
_HYPHENS = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d", "-"))
# Between the pieces of a name: spaces, hyphens, apostrophes, a full stop ("St. John"), or nothing.
_JOINER = r"[\s'.\-]*"
_SEPARATORS = re.compile(r"[\s'.\-]+")
_SPACES = re.compile(r"\s+")
# Alone, these identify nobody; several are everyday words ("van", "de", "la", "le", "di").
NOT_IDENTIFYING = frozenset(
    {
        "da",
        "de",
        "del",
        "della",
        "den",
        "der",
        "di",
        "do",
        "dos",
        "du",
        "la",
        "le",
        "st",
        "van",
        "von",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "dr",
        "mr",
        "mrs",
        "ms",
        "mx",
    }
)
SHORTEST_PART = 2  # one letter is an initial: it would match every "a" and "I" of a text


def fold(text: str) -> str:
    """``text`` as the name check compares it: no accents, no case, plain apostrophes and hyphens."""
    # Case folding can bring new combining marks ("İ" folds to "i" + dot), so decompose after it too.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.translate(_APOSTROPHES).translate(_HYPHENS)


def _word(pattern: str) -> str:
    return rf"(?<!\w){pattern}(?!\w)"


@lru_cache(maxsize=1024)
def _name_pattern(name: str) -> re.Pattern[str] | None:
    """One pattern for a name: the full name, or any identifying part of two letters or more."""
    pieces = [p for p in _SEPARATORS.split(fold(name)) if p]
    if not pieces:
        return None
    alternatives = [_JOINER.join(re.escape(p) for p in pieces)]
    # A part written with a hyphen or apostrophe ("O'Neil", "Jean-Luc") identifies on its own too,
    # however it is joined ("ONeil", "JeanLuc"), not only as the pieces it splits into.
    for part in _SPACES.split(fold(name)):
        joined = [p for p in _SEPARATORS.split(part) if p]
        if len(joined) > 1 and any(len(p) >= SHORTEST_PART for p in joined):  # not initials ("J.R.")
            alternatives.append(_JOINER.join(re.escape(p) for p in joined))
    alternatives += [
        re.escape(p) for p in dict.fromkeys(pieces) if len(p) >= SHORTEST_PART and p not in NOT_IDENTIFYING
    ]
    return re.compile("|".join(_word(f"(?:{a})") for a in alternatives))


def mentions_name(text: str, name: str) -> bool:
    """Whether ``text`` contains ``name``, or an identifying part of it, as whole words."""
    pattern = _name_pattern(name)
    return pattern is not None and pattern.search(fold(text)) is not None


def names_in(text: str | None, names: Iterable[str]) -> bool:
    """Whether ``text`` mentions any of ``names`` (None or empty text mentions nobody)."""
    return bool(text) and any(mentions_name(text or "", n) for n in names)
