"""Every message a person reads has Vietnamese text, and the language switch works.

The msgids come from the code itself (Babel's extractor over the same files and keywords as
``babel.cfg``), so a new ``_("…")`` without a Vietnamese entry in
``planning/locale/vi/LC_MESSAGES/btsplan.po`` fails here, not in front of a user.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from planning import i18n
from planning.i18n import _, lazy_gettext, msg_ref, ngettext, render, use_language

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "planning" / "locale" / "vi" / "LC_MESSAGES" / "btsplan.po"


def marked_msgids() -> dict[str, str]:
    """msgid (singular for plurals) → where it is marked, over app/, geodata/ and planning/."""
    found: dict[str, str] = {}
    for pkg in ("planning", "geodata", "app"):
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
                ROOT / pkg, method_map=[("**.py", "python")], keywords=i18n.KEYWORDS):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, f"{pkg}/{filename}:{lineno}")
    return found


def test_babel_cfg_covers_the_packages() -> None:
    cfg = (ROOT / "babel.cfg").read_text(encoding="utf-8")
    for pkg in ("planning", "geodata", "app"):
        assert f"[python: {pkg}/**.py]" in cfg


def test_every_marked_message_has_vietnamese_text() -> None:
    vi = i18n.catalog("vi")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in marked_msgids().items() if msgid not in vi)
    assert not missing, "messages without Vietnamese text in btsplan.po:\n" + "\n".join(missing)


def test_translations_use_the_fields_of_their_msgid() -> None:
    with PO.open("rb") as f:
        cat = read_po(f, locale="vi")
    wrong = []
    for m in cat:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set().union(*(i18n.fields_of(i) for i in ids))
        for s in strs:
            if s and i18n.fields_of(s) != want:
                wrong.append(f"{ids[0]!r}: {sorted(i18n.fields_of(s))} ≠ {sorted(want)}")
    assert not wrong, "\n".join(wrong)


def test_the_catalog_has_no_fuzzy_or_duplicate_entries() -> None:
    with PO.open("rb") as f:
        cat = read_po(f, locale="vi")
    assert not [m.id for m in cat if m.id and m.fuzzy]
    text = PO.read_text(encoding="utf-8")
    ids = [line for line in text.splitlines() if line.startswith("msgid ")]
    assert len(ids) == len(set(ids))


def test_language_switch_and_fallback() -> None:
    msgid = next(iter(i18n.catalog("vi")), None)
    if msgid is None:
        pytest.skip("empty catalog")
    with use_language("vi"):
        assert i18n.get_language() == "vi"
        assert _(msgid) == i18n.catalog("vi")[msgid] != msgid
        with use_language("en"):
            assert _(msgid) == msgid
        assert _("no such message {x}", x=1) == "no such message 1"  # no entry: the English source
    with use_language("fr"):
        assert i18n.get_language() == i18n.DEFAULT_LANGUAGE == "vi"


def test_stored_and_lazy_messages_render_in_the_reader_language() -> None:
    ref = msg_ref("on the ground")
    assert render(ref, "en") == "on the ground"
    assert render(ref, "vi") == i18n.catalog("vi")["on the ground"]
    lazy = lazy_gettext("on the ground")
    with use_language("en"):
        assert str(lazy) == "on the ground"
    with use_language("vi"):
        assert str(lazy) == render(ref, "vi") == "trên mặt đất"
    with use_language("en"):
        assert ngettext("{n} mast", "{n} masts", 2) == "2 masts"


@pytest.mark.parametrize(("header", "lang"), [
    ("vi", "vi"), ("en-GB,en;q=0.9", "en"), ("fr, en;q=0.5", "en"), ("fr", None), ("en;q=0, vi", "vi"),
    ("", None)])
def test_accept_language(header: str, lang: str | None) -> None:
    assert i18n.negotiate(header) == lang


def test_cli_lang_option() -> None:
    """``btsplan --lang vi|en`` picks the language of every message of the run; anything else is refused."""
    from typer.testing import CliRunner

    from app.cli import cli

    runner = CliRunner()
    vi = runner.invoke(cli, ["--lang", "vi", "stats", "sites", "--by", "bad"])
    en = runner.invoke(cli, ["--lang", "en", "stats", "sites", "--by", "bad"])
    try:
        assert vi.exit_code == en.exit_code == 1
        assert "dùng district,type hoặc commune,type" in vi.output and "lỗi" in vi.output
        assert "use district,type or commune,type" in en.output
        bad = runner.invoke(cli, ["--lang", "fr", "stats", "sites"])
        assert bad.exit_code == 2 and "--lang" in bad.output
    finally:
        i18n.set_language("en")  # the suite's language (tests/conftest.py): the CLI set it for this thread
