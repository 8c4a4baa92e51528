"""Reading uploaded text files: one rule for the encodings a CSV from an office arrives in.

Excel on a Chinese Windows saves CSV as GBK; everything else sends UTF-8, often with a BOM.
GB18030 is a superset of GBK (and of GB2312), so UTF-8 is tried first and GB18030 second. A
UTF-16 file (Excel's "Unicode text") would decode as GB18030 nonsense, so it is refused by its BOM
before anything is tried.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

ENCODINGS = ("utf-8-sig", "gb18030")
# Cells a CSV upload may hold (separators and line breaks counted before any parsing): far more
# than any real sheet, far fewer than the millions of empty cells a file of commas would make.
MAX_CSV_CELLS = 1_000_000


class NotText(ValueError):
    """The upload is not UTF-8 or GBK text; `message` says why in the reader's language."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


def decode_csv(content: bytes) -> str:
    """The text of an uploaded CSV file: UTF-8 (with or without BOM) or GBK/GB18030.

    Raises NotText for UTF-16, for bytes that are neither encoding, for binary files and for
    files of more than MAX_CSV_CELLS cells.
    """
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise NotText(_l("The CSV file is in UTF-16; save it as UTF-8 or GBK."))
    for encoding in ENCODINGS:
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise NotText(_l("The CSV file is neither UTF-8 nor GBK text."))
    if "\x00" in text:
        raise NotText(_l("The file is not a CSV text file."))
    cells = sum(text.count(separator) for separator in (",", ";", "\t", "\n"))
    if cells > MAX_CSV_CELLS:
        raise NotText(_l("The CSV file has more than %(max)s cells; split it.", max=MAX_CSV_CELLS))
    return text
