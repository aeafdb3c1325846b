"""Two languages, chosen per learner: gettext catalogues looked up in the reader's language.

The catalogues are the ``.po`` files under ``dlcore/locales/<locale>/LC_MESSAGES`` (kept in
the repository and read as they are, so there is no compiled file to drift from its
source). A lookup never uses gettext's global ``install()``: that would give every learner
on the server the language of whoever came first. Instead the language is found, in order, in

1. a context variable, set with ``using("zh")`` (the command line, tests, a worker), then
2. a resolver the UI installs once with ``set_resolver`` (it reads the learner's session),
3. English.

Messages that are written now but read later, perhaps by several learners in different
languages (a training job's failure, an exception's text), are ``Message`` objects: the
English id and its parameters, translated each time they are turned into text.

>>> with using("zh"):
...     str(Message("Language"))
'语言'
>>> str(Message("Language"))
'Language'
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import functools
import gettext
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
CATALOGUES = Path(__file__).parent / "locales"
DOMAIN = "messages"
CATALOGUE_LOCALES = {"zh": "zh_CN"}  # our language code -> the catalogue's directory

_language: contextvars.ContextVar[str | None] = contextvars.ContextVar("language", default=None)
_resolver: Callable[[], str | None] | None = None


def negotiate(requested: str | None) -> str:
    """The supported language for a browser locale or ``?lang=`` value ('zh-CN' -> 'zh').

    >>> negotiate("zh-CN"), negotiate("zh_TW"), negotiate("en-GB"), negotiate("fr"), negotiate(None)
    ('zh', 'zh', 'en', 'en', 'en')
    """
    primary = (requested or "").replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def set_resolver(resolver: Callable[[], str | None] | None) -> Callable[[], str | None] | None:
    """Install the function that tells the current reader's language (the UI's session);
    returns the one it replaces, so that it can be put back."""
    global _resolver
    previous, _resolver = _resolver, resolver
    return previous


def current_language() -> str:
    """The language of whoever is reading now (see the module docstring for the order)."""
    chosen = _language.get()
    if chosen is None and _resolver is not None:
        chosen = _resolver()
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


@contextlib.contextmanager
def using(language: str) -> Iterator[None]:
    """Read messages in ``language`` inside the block (this thread/context only)."""
    if language not in LANGUAGES:
        raise ValueError(f"Unknown language {language!r}; valid: {', '.join(LANGUAGES)}")
    token = _language.set(language)
    try:
        yield
    finally:
        _language.reset(token)


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` (English is the source text: no catalogue needed).

    A language's messages may be split over several ``.po`` files (one per area of the
    app, so that areas are translated side by side); they are read as one catalogue.
    """
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(language), use_fuzzy=False)  # fuzzy entries stay English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def catalogue_files(language: str) -> list[Path]:
    """The ``.po`` files that hold ``language``'s messages, in a stable order."""
    return sorted((CATALOGUES / CATALOGUE_LOCALES[language] / "LC_MESSAGES").glob("*.po"))


def read_catalogue(language: str) -> Catalog:
    """All of ``language``'s ``.po`` files as one Babel catalogue (the first file's header)."""
    merged = None
    for path in catalogue_files(language):
        with path.open("rb") as po_file:
            part = read_po(po_file, locale=CATALOGUE_LOCALES[language])
        if merged is None:
            merged = part
            continue
        for message in part:
            if message.id:
                merged[message.id] = message
    return merged


@functools.cache
def terms() -> tuple[dict[str, str], ...]:
    """The term table translators follow: English, the tutorial's Chinese, its section."""
    with (CATALOGUES / "terms.csv").open(encoding="utf-8", newline="") as table:
        return tuple(csv.DictReader(table))


def _(message: str, /, **params: object) -> str:
    """``message`` in the reader's language, with ``{name}`` placeholders filled in."""
    text = translations(current_language()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, count: int, /, **params: object) -> str:
    """The singular or plural form for ``count`` (Chinese has one form), filled in."""
    text = translations(current_language()).ngettext(singular, plural, count)
    return text.format(count=count, **params)


def N_(message: str, /) -> str:
    """Mark a string for the catalogue without translating it yet (a table of labels)."""
    return message


class Message:
    """A message translated each time it is read: an English id and its parameters.

    Parameters that are themselves ``Message`` objects are translated too.
    """

    __slots__ = ("message", "params")

    def __init__(self, message: str, /, **params: object):
        self.message = message
        self.params = params

    def __str__(self) -> str:
        params = {name: str(v) if isinstance(v, Message) else v for name, v in self.params.items()}
        return _(self.message, **params)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Message({self.message!r}, **{self.params!r})"

    def to_json(self) -> dict:
        """A JSON-ready form (for a message that travels, e.g. through Redis): the id and
        the parameters, nested messages included, each read again in the reader's language.

        >>> Message.from_json(Message("Stopped after {n} epochs", n=3).to_json())
        Message('Stopped after {n} epochs', **{'n': 3})
        """
        params = {
            name: {"message": value.to_json()} if isinstance(value, Message) else value
            for name, value in self.params.items()
        }
        return {"id": self.message, "params": params}

    @classmethod
    def from_json(cls, data: dict) -> Message:
        """The message to_json wrote."""
        params = {
            name: cls.from_json(value["message"]) if isinstance(value, dict) else value
            for name, value in data.get("params", {}).items()
        }
        return cls(data["id"], **params)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Message):
            return (self.message, self.params) == (other.message, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.message)
