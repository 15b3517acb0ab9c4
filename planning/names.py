"""Names as people type them: one accent-folding rule for every comparison of Vietnamese text.

Planners, inspectors and spreadsheets write the same name many ways ("Lê Chân", "le chan",
"LE  CHAN", "Quận Lê Chân"); search, unit filters, column headers, operator names and file names
all compare names after :func:`fold`, so a name that matches in one place matches in all. Pure:
imports only the standard library.
"""

from __future__ import annotations

import unicodedata

_DD = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str | None) -> str:
    """Lower-case, Vietnamese diacritics stripped (đ → d included), whitespace runs collapsed to one
    space and trimmed.

    NFKD splits a precomposed letter such as "ề" into "e" + combining marks (and spells out
    compatibility forms: full-width digits, ligatures); dropping the marks leaves the base letter.
    "đ" is a letter of its own, not a mark, so it is mapped explicitly. Collapsing whitespace makes
    "LE  CHAN" and "le chan" one name.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.translate(_DD))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.lower().split())


__all__ = ["fold"]
