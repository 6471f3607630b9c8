"""ASCII ids and tags from question text, in any script (Cyrillic and Armenian transliterated)."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

MAX_ID_CHARS = 48

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    # Kyrgyz, Kazakh, Ukrainian, Belarusian letters
    "ң": "ng", "ө": "o", "ү": "u", "ә": "a", "ғ": "gh", "қ": "q", "ұ": "u", "һ": "h",
    "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
}
_ARMENIAN = {
    "ա": "a", "բ": "b", "գ": "g", "դ": "d", "ե": "e", "զ": "z", "է": "e", "ը": "y", "թ": "t",
    "ժ": "zh", "ի": "i", "լ": "l", "խ": "kh", "ծ": "ts", "կ": "k", "հ": "h", "ձ": "dz",
    "ղ": "gh", "ճ": "ch", "մ": "m", "յ": "y", "ն": "n", "շ": "sh", "ո": "o", "չ": "ch",
    "պ": "p", "ջ": "j", "ռ": "r", "ս": "s", "վ": "v", "տ": "t", "ր": "r", "ց": "ts",
    "ւ": "v", "փ": "p", "ք": "k", "օ": "o", "ֆ": "f", "և": "ev",
}
_TABLE = str.maketrans({**_CYRILLIC, **_ARMENIAN})
_NON_WORD = re.compile(r"[^a-z0-9]+")


def transliterate(text: str) -> str:
    """`text` in lower-case ASCII letters where a mapping or an accent-strip exists."""
    lowered = text.lower().replace("ու", "u")  # the Armenian digraph for /u/
    latin = lowered.translate(_TABLE)
    decomposed = unicodedata.normalize("NFKD", latin)
    return "".join(c for c in decomposed if c.isascii())


def is_latin(text: str) -> bool:
    """Whether the letters of `text` are Latin (possibly accented)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all("LATIN" in unicodedata.name(c, "") for c in letters)


def slugify(text: str, max_chars: int = MAX_ID_CHARS) -> str:
    """`How do I return an item?` -> `how_do_i_return_an_item`; '' when nothing is left."""
    words = [w for w in _NON_WORD.split(transliterate(text)) if w]
    out: list[str] = []
    for word in words:
        if out and len("_".join([*out, word])) > max_chars:
            break
        out.append(word[:max_chars])
    return "_".join(out)


def entry_id(text: str) -> str:
    """A valid KB id for `text`: its slug, or `faq_<hash>` for text with no usable letters."""
    slug = slugify(text)
    if slug:
        return slug
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:8]
    return f"faq_{digest}"


def unique_id(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3`... whichever is not in `taken`; adds it to `taken`."""
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def best_id_source(questions: Iterable[str]) -> str:
    """The phrasing to derive an id from: the first Latin-script one, else the first."""
    listed = list(questions)
    return next((q for q in listed if is_latin(q)), listed[0] if listed else "")
