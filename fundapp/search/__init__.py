"""One search box across companies, deals, grants and people.

Companies are found by their Chinese or English name, a former name, the unified social credit
code (统一社会信用代码) and the pinyin of their Chinese names, whole (`zhangjiang`) or by
initials (`zjkc` finds 张江科创). The pinyin is worked out once, when a company is written
(`company_search_key`, kept in `companies.search_key` by an ORM hook in deals/models.py), so a
search is one scan of a short text column, never a conversion per row.
"""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

_KEEP = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
KEY_LENGTH = 2000  # the column's size: a key longer than this is cut (names are 200 each)


def fold(text: str) -> str:
    """Lower case, full-width folded to half-width, everything but letters, digits and Chinese
    characters dropped: "Zhang Jiang（上海）" -> "zhangjiang上海"."""
    return _KEEP.sub("", unicodedata.normalize("NFKC", text or "").lower())


def _pinyin_forms(name: str) -> list[str]:
    """The whole pinyin and the initials of the Chinese characters in `name`."""
    han = "".join(_HAN.findall(name or ""))
    if not han:
        return []
    return ["".join(lazy_pinyin(han)), "".join(lazy_pinyin(han, style=Style.FIRST_LETTER))]


def company_search_key(legal_name: str, name_en: str = "", former_names: str = "",
                       uscc: str | None = None) -> str:
    """The text a search matches: every name folded, their pinyin, the credit code; parts
    separated by "|" so a query never matches across two of them."""
    names = [legal_name, *(former_names or "").splitlines()]
    parts = [fold(n) for n in names + [name_en]]
    for name in names:
        parts.extend(_pinyin_forms(name))
    if uscc:
        parts.append(fold(uscc))
    key = "|".join(dict.fromkeys(p for p in parts if p))
    return f"|{key}|"[:KEY_LENGTH]
