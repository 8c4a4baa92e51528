"""Reading a rendered PDF back, as a reader would (poppler-utils), for the tests of any package."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def pdf_text(pdf: bytes, tmp_path: Path, *, layout: bool = True) -> str:
    """The PDF's text: laid out as on the page, or with `layout=False` in reading order."""
    assert shutil.which("pdftotext"), "pdftotext missing: `make test` installs poppler-utils"
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(path), "-"],
                          check=True, capture_output=True, text=True).stdout


def pdf_fonts(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                          text=True).stdout
