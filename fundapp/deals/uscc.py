"""Unified social credit codes (统一社会信用代码), GB 32100-2015."""

from __future__ import annotations

# The 31 characters the standard uses (no I, O, Z, S, V), each worth its index.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def normalise_uscc(code: str) -> str:
    return code.strip().upper().replace(" ", "")


def uscc_problem(code: str) -> str | None:
    """None when the code is valid, else why not (English; callers translate by kind)."""
    code = normalise_uscc(code)
    if len(code) != 18:
        return "length"
    if any(ch not in CHARSET for ch in code):
        return "characters"
    if check_character(code[:17]) != code[17]:
        return "check"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None
