"""How text the user types is compared with text the catalog holds: one home for each rule.

`fold` makes names case-, accent- and punctuation-free: the query language
folds what the user typed and the catalog folds what it stored (a SQL
function over place names, tags and the people of XMP metadata), and both
must agree. `like_escape` makes text match literally in a SQL `LIKE`.
"""

from __future__ import annotations

import unicodedata


def fold(text: str | None) -> str:
    """Case- and accent-free text, punctuation as spaces: how place names are compared."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())


def like_escape(text: str) -> str:
    """`text` matched literally by `LIKE ? ESCAPE '\\'` (backslash, % and _ escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
