"""Vietnamese and English for everything a person reads: gettext-style catalogs read with Babel.

Why this shape:

* **English source text is the msgid** (the gettext norm): code reads as it did, English needs no
  catalog, and a missing Vietnamese entry shows English rather than a key. The Vietnamese texts live
  in ``planning/locale/vi/LC_MESSAGES/btsplan.po``, which Babel parses at first use: there is no
  compile step a fresh clone or ``pip install -e .`` could miss (the ``.po`` is package data).
* **The language is a context variable** (default ``vi``, the department's language): the HTTP
  middleware sets it per request, the CLI once per run, and pure code below never passes a language
  around. Code that renders for someone else (a document in a set language) uses :func:`use_language`.
* **Named ``{fields}``** (``str.format``): a translation may reorder them, and the completeness test
  checks that every Vietnamese text uses exactly the fields of its msgid.
* **Stored messages stay renderable**: :func:`msg_ref` gives ``{"msgid", "params"}`` (plain JSON), so
  a finding written today can be shown tomorrow in the reader's language with :func:`render`.

Pure: imports the standard library and Babel only.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

from babel.messages.pofile import read_po

Language = Literal["vi", "en"]
#: Languages people can choose, the default first.
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "vi"
#: The gettext domain: ``locale/<lang>/LC_MESSAGES/<DOMAIN>.po``.
DOMAIN: Final = "btsplan"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
#: Call names Babel's extractor looks for (``babel.cfg`` and the completeness test use the same).
KEYWORDS: Final[dict[str, Any]] = {"_": None, "gettext": None, "N_": None, "lazy_gettext": None,
                                   "msg_ref": None, "ngettext": (1, 2),
                                   "pgettext": ((1, "c"), 2), "NP_": ((1, "c"), 2)}
#: gettext's separator between a message's context and its msgid in a catalog key.
CONTEXT_SEP: Final = "\x04"

_language: ContextVar[Language] = ContextVar("btsplan_language", default=DEFAULT_LANGUAGE)


def parse_language(value: str | None) -> Language | None:
    """``vi``/``en`` from a code such as ``vi``, ``en-GB`` or ``EN`` (None when not one of ours)."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None  # type: ignore[return-value]


def negotiate(accept_language: str | None) -> Language | None:
    """The best of our languages for an ``Accept-Language`` header (quality order), or None."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _eq, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, tag))
    for negq, _i, tag in sorted(ranked):
        lang = parse_language(tag)
        if lang and negq < 0:
            return lang
    return None


def get_language() -> Language:
    return _language.get()


def set_language(lang: str | None) -> Token[Language]:
    """Set the current language (unknown or empty → the default); returns the token to reset it."""
    return _language.set(parse_language(lang) or DEFAULT_LANGUAGE)


def reset_language(token: Token[Language]) -> None:
    """Undo the :func:`set_language` that returned ``token``."""
    _language.reset(token)


@contextmanager
def use_language(lang: str | None) -> Iterator[Language]:
    """Render in ``lang`` inside the block (a document in a chosen language, a test)."""
    token = set_language(lang)
    try:
        yield _language.get()
    finally:
        _language.reset(token)


@cache
def catalog(lang: str) -> dict[str, str | tuple[str, ...]]:
    """msgid → translated text of ``lang`` (plural entries: the tuple of forms, keyed by the singular).

    Empty and fuzzy entries are left out, so they fall back to the English msgid. English has no catalog.
    An entry with a ``msgctxt`` is keyed ``context + CONTEXT_SEP + msgid`` (gettext's own convention), so
    a short word may read differently where it is shown (the map's "Streets" layer is not the report's
    "number of streets") without a second English spelling.
    """
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        cat = read_po(f, locale=lang, domain=DOMAIN)
    out: dict[str, str | tuple[str, ...]] = {}
    for m in cat:
        if not m.id or m.fuzzy:
            continue
        key = m.id[0] if isinstance(m.id, tuple | list) else m.id
        if m.context:
            key = f"{m.context}{CONTEXT_SEP}{key}"
        if isinstance(m.string, tuple | list):
            if all(m.string):
                out[key] = tuple(m.string)
        elif m.string:
            out[key] = m.string
    return out


def _lookup(msgid: str, lang: str) -> str:
    text = catalog(lang).get(msgid) if lang != "en" else None
    if isinstance(text, tuple):
        return text[0]
    return text or msgid


def _format(text: str, fields: Mapping[str, Any]) -> str:
    if not fields:
        return text
    return text.format_map({k: render(v) if _is_ref(v) else v for k, v in fields.items()})


def gettext(msgid: str, /, **fields: Any) -> str:
    """``msgid`` (English source text) in the current language, with its ``{fields}`` filled in."""
    return _format(_lookup(msgid, _language.get()), fields)


_ = gettext


def pgettext(context: str, msgid: str, /, **fields: Any) -> str:
    """``msgid`` as translated for ``context`` (gettext's ``msgctxt``), with its ``{fields}`` filled in."""
    lang = _language.get()
    text = catalog(lang).get(f"{context}{CONTEXT_SEP}{msgid}") if lang != "en" else None
    return _format(text[0] if isinstance(text, tuple) else (text or msgid), fields)


def NP_(context: str, msgid: str, /) -> str:
    """:func:`N_` with a context: marks ``msgid`` for the catalog under ``msgctxt`` ``context``."""
    return msgid


def N_(msgid: str, /) -> str:
    """Mark ``msgid`` for the catalog without translating it (labels in tables built at import time;
    translate where shown with ``_(label)``)."""
    return msgid


def ngettext(singular: str, plural: str, n: int, /, **fields: Any) -> str:
    """The form for count ``n``; ``n`` is also available as the ``{n}`` field. Vietnamese has one form."""
    lang = _language.get()
    forms = catalog(lang).get(singular) if lang != "en" else None
    if isinstance(forms, tuple):
        text = forms[0] if len(forms) == 1 else forms[0 if n == 1 else 1]
    elif isinstance(forms, str):
        text = forms
    else:
        text = singular if n == 1 else plural
    return _format(text, {"n": n, **fields})


class LazyText:
    """A message rendered when it is turned into text, in the language current then (module-level
    labels, help texts, defaults built at import time)."""

    __slots__ = ("fields", "msgid")

    def __init__(self, msgid: str, fields: Mapping[str, Any]) -> None:
        self.msgid = msgid
        self.fields = dict(fields)

    def __str__(self) -> str:
        return gettext(self.msgid, **self.fields)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"LazyText({self.msgid!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyText | str) else other)

    def __hash__(self) -> int:
        return hash(self.msgid)


def lazy_gettext(msgid: str, /, **fields: Any) -> LazyText:
    return LazyText(msgid, fields)


def msg_ref(msgid: str, /, **fields: Any) -> dict[str, Any]:
    """A message to store and render later: ``{"msgid": …, "params": {…}}`` (JSON as long as the
    fields are). A field may itself be a ``msg_ref`` (a phrase translated on its own)."""
    return {"msgid": msgid, "params": fields}


def _is_ref(v: Any) -> bool:
    return isinstance(v, Mapping) and isinstance(v.get("msgid"), str)


def render(ref: Any, lang: str | None = None) -> Any:
    """Text of a stored :func:`msg_ref` in ``lang`` (default: the current language); a
    :class:`LazyText` becomes text; anything else (plain text, None) is returned unchanged."""
    if lang is not None:
        with use_language(lang):
            return render(ref)
    if isinstance(ref, LazyText):
        return str(ref)
    if not _is_ref(ref):
        return ref
    msgid: str = ref["msgid"]
    return gettext(msgid, **dict(ref.get("params") or {}))


def label(value: Any, labels: Mapping[Any, str]) -> Any:
    """The translated label of a vocabulary value (``building`` → "trên công trình"), the value itself
    when it has none (codes people may still read, such as mast classes)."""
    text = labels.get(value) if isinstance(value, str) else None
    return gettext(text) if text else value


def fields_of(text: str) -> set[str]:
    """The ``{field}`` names a message uses (the completeness test compares msgid and translation)."""
    return {name.split(".")[0].split("[")[0] for _lit, name, _spec, _conv in string.Formatter().parse(text)
            if name}
