"""Text normalization at the boundary: every message text that enters supportbot (a customer
message in `Bot.handle` / `Bot.parse`, an agent message in `bot.queue.send`, any text a handoff
queue backend stores) goes through `normalize_text` first, so that every backend stores and every
component sees the same, storable text.

What `normalize_text` does, in this order:

1. Lone UTF-16 surrogates (``"\\ud800"``: what a broken client or ``surrogateescape`` decoding
   leaves behind; PostgreSQL and UTF-8 cannot store them) become U+FFFD; a high+low surrogate
   pair is joined into the character it encodes.
2. Line ends: ``\\r\\n`` and ``\\r`` (and NEL, U+0085) become ``\\n``. Newline and tab are kept.
   Vertical tab, form feed and the C0 separators U+001C-U+001F become a space (they separate
   words). Every other C0/C1 control character (NUL, BEL, ESC, DEL, U+0080-U+009F) is dropped:
   it carries no meaning in a chat message, and PostgreSQL rejects NUL in text.
3. Unicode NFC, so that "é" typed as one or as two code points is the same text for the NLU,
   the knowledge base and the agent.
4. Surrounding whitespace and invisible characters are stripped (zero-width space, BOM,
   soft hyphen, ZWJ/ZWNJ, word joiner...). Invisible characters inside the text are kept:
   ZWJ builds emoji sequences, ZWNJ is part of Persian spelling, a variation selector picks
   the emoji form of the character before it.
5. A text left with nothing but invisible characters (format characters, variation selectors,
   Hangul fillers, whitespace) becomes ``""``: callers treat it as an empty message.

The function is idempotent: ``normalize_text(normalize_text(s)) == normalize_text(s)``.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["fix_surrogates", "has_control_characters", "is_invisible", "normalize_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# anything step 2 touches: C0 except \t and \n, DEL, C1
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TO_NEWLINE = re.compile("\r\n?|\x85")
_TO_SPACE = re.compile("[\x0b\x0c\x1c-\x1f]")
_DROP = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")

# invisible characters that are not category Cf/Zs/Cc but show nothing on their own
_INVISIBLE_EXTRA = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180f"  # Mongolian free variation selectors
    "\u2800"  # braille blank
)


def _is_invisible_char(ch: str) -> bool:
    if ch.isspace() or ch in _INVISIBLE_EXTRA:
        return True
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    return unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp")


# stripped at either end of a message: whitespace, format characters (ZWSP, ZWJ, BOM, soft
# hyphen...) and the fillers above; variation selectors only at the start (at the end one
# belongs to the character before it)
def _strip_edges(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_invisible_char(text[start]):
        start += 1
    while end > start:
        ch = text[end - 1]
        cp = ord(ch)
        if (0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF) and end - 1 > start:
            break
        if not _is_invisible_char(ch):
            break
        end -= 1
    return text[start:end]


def fix_surrogates(text: str) -> str:
    """`text` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def has_control_characters(text: str) -> bool:
    """True when `text` holds a C0/C1 control character other than tab and newline."""
    return _CONTROL.search(text) is not None


def is_invisible(text: str) -> bool:
    """True when `text` shows nothing: only whitespace, format and filler characters."""
    return all(_is_invisible_char(ch) for ch in text)


def normalize_text(text: str) -> str:
    """Message text as supportbot stores and understands it (see the module docstring):
    surrogates fixed, control characters dropped (newline and tab kept), NFC, stripped;
    ``""`` when only invisible characters remain."""
    text = fix_surrogates(text)
    if _CONTROL.search(text):
        text = _TO_NEWLINE.sub("\n", text)
        text = _TO_SPACE.sub(" ", text)
        text = _DROP.sub("", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _strip_edges(text)
    if not text or is_invisible(text):
        return ""
    return text
