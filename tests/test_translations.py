"""The Chinese catalog covers every user-visible string, keeps its placeholders, and compiles.

No database and no app: the strings are extracted from the code and templates with Babel's API
exactly as `make messages` (`pybabel extract -F babel.cfg -k _l -k lazy_gettext .`) extracts them,
so a string added to the code but not translated in messages.po fails here, by name.
"""

from __future__ import annotations

import gettext
import io
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
ZH_PO = ROOT / "fundapp" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
EXTRA_KEYWORDS = ["_l", "lazy_gettext"]  # the Makefile's `-k _l -k lazy_gettext`

# %(name)s, %s, %.2f, %% ... and {name}, {0}, {}, {name:,} (not the escaped {{ and }}).
PERCENT_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]")
BRACE_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")


@cache
def extracted() -> dict[tuple[str, str | None], list[str]]:
    """(msgid, context) -> where it occurs, for every message in the code and templates."""
    with BABEL_CFG.open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, filename=str(BABEL_CFG))
    keywords = DEFAULT_KEYWORDS.copy()
    keywords.update(parse_keywords(EXTRA_KEYWORDS))
    messages: dict[tuple[str, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, (list, tuple)) else message
        if msgid:
            messages.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return messages


@cache
def zh_catalog() -> Catalog:
    with ZH_PO.open("rb") as fileobj:
        return read_po(fileobj, locale="zh")


def translated(catalog: Catalog) -> list:
    """The catalog's messages (the header left out) that are not obsolete."""
    return [message for message in catalog if message.id]


def msgid_text(message) -> str:
    return message.id[0] if isinstance(message.id, (list, tuple)) else message.id


def strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def placeholders(text: str) -> Counter:
    found = Counter(PERCENT_PLACEHOLDER.findall(text))
    found.update("{" + name + "}" for name in BRACE_PLACEHOLDER.findall(text))
    return found


def test_extraction_finds_the_strings() -> None:
    """A guard on the guard: the extraction reads Python (_l, gettext) and Jinja templates."""
    found = {msgid for msgid, _context in extracted()}
    assert len(found) > 50
    assert {"Sign in", "Dashboard", "Compliance ledger"} <= found  # templates
    assert {"Ledger", "Users"} <= found  # fundapp/ui.py, lazy_gettext as _l


def test_every_extracted_string_has_a_chinese_translation() -> None:
    catalog = zh_catalog()
    missing = []
    for (msgid, context), where in sorted(extracted().items(), key=lambda item: item[0][0]):
        message = catalog.get(msgid, context=context)
        if message is None:
            problem = "not in messages.po (run `make messages`)"
        elif message.fuzzy:
            problem = "marked fuzzy"
        elif not all(text.strip() for text in strings(message)):
            problem = "not translated"
        else:
            continue
        missing.append(f"  {msgid!r} ({problem}; {', '.join(where[:3])})")
    assert not missing, (
        f"{len(missing)} user-visible string(s) lack a Chinese translation in "
        f"{ZH_PO.relative_to(ROOT)}:\n" + "\n".join(missing)
    )


def test_the_catalog_header_is_complete() -> None:
    catalog = zh_catalog()
    assert str(catalog.locale) == "zh"
    assert catalog.plural_forms == "nplurals=1; plural=0;"
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    fuzzy = [msgid_text(message) for message in translated(catalog) if message.fuzzy]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"


def test_translations_keep_the_placeholders() -> None:
    wrong = []
    for message in translated(zh_catalog()):
        expected = placeholders(ids(message)[-1])  # a Chinese form stands for any count
        for text in strings(message):
            if text and placeholders(text) != expected:
                wrong.append(
                    f"  {msgid_text(message)!r} -> {text!r}: expected "
                    f"{sorted(expected.elements())}, got {sorted(placeholders(text).elements())}"
                )
    assert not wrong, "translations that change the placeholders:\n" + "\n".join(wrong)


def test_babel_finds_no_errors_in_the_catalog() -> None:
    problems = [
        f"  {msgid_text(message)!r}: {'; '.join(str(error) for error in errors)}"
        for message, errors in zh_catalog().check()
    ]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def compiled() -> gettext.GNUTranslations:
    """messages.po compiled in memory, as `make translations` compiles it to messages.mo."""
    buffer = io.BytesIO()
    write_mo(buffer, zh_catalog(), use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@pytest.mark.parametrize(
    ("msgid", "expected"),
    [
        ("Sign in", "登录"),
        ("Sign out", "退出登录"),
        ("Dashboard", "工作台"),
        ("Compliance ledger", "合规台账"),
        ("Investment committee member", "投决会委员"),
        ("Committed capital", "认缴规模"),
    ],
)
def test_the_compiled_catalog_translates(compiled, msgid, expected) -> None:
    assert compiled.gettext(msgid) == expected


def test_the_compiled_catalog_formats_placeholders(compiled) -> None:
    assert compiled.gettext("Page %(n)s of %(m)s") % {"n": 2, "m": 5} == "第 2 页，共 5 页"
    assert compiled.gettext("User %(email)s created.") % {"email": "a@example.cn"} == (
        "已创建用户 a@example.cn。"
    )
    assert compiled.gettext("Length must be between {min} and {max}.").format(min=1, max=9) == (
        "长度须在 1 到 9 之间。"
    )


def test_the_compiled_catalog_leaves_unknown_strings_alone(compiled) -> None:
    assert compiled.gettext("No such string in the catalog") == "No such string in the catalog"
    assert compiled.info().get("language") == "zh"
