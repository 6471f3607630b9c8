"""Reading a message in the context of the bot's question: stop requests, questions, thanks."""
from __future__ import annotations

from supportbot.escalation.text import normalize, words

# A whole message that means "leave this form" (4 languages). Whole-message only, so "cancel
# my order" or "stop charging me" are never read as leaving a form.
STOP_PHRASES: frozenset[str] = frozenset({
    # en
    "stop", "cancel", "never mind", "nevermind", "forget it", "quit", "exit", "abort",
    "stop it", "stop this", "cancel this", "cancel that", "i dont want to continue",
    "leave it", "no stop", "not now", "nothing",
    # ru
    "стоп", "отмена", "отменить", "отмени", "не надо", "неважно", "не важно", "забудь",
    "хватит", "прекрати", "остановись", "выход", "ничего",
    # hy
    "կանգ", "կանգնիր", "դադարեցրու", "դադարեցնել", "չեղարկել", "չեղարկիր", "թող",
    "մոռացիր", "պետք չէ", "կարիք չկա", "ոչինչ",
    # ky
    "токто", "токтот", "токтотуу", "жокко чыгар", "керек эмес", "кереги жок", "унут",
    "эч нерсе", "болду",
})
_POLITE = {"please", "pls", "пожалуйста", "խնդրում", "եմ", "сураныч", "ok", "okay", "ладно",
           "лан", "ну", "ой", "oh", "ah", "well", "then", "тогда"}

QUESTION_WORDS: frozenset[str] = frozenset({
    # en
    "how", "what", "when", "where", "why", "who", "which", "can", "could", "do", "does",
    "is", "are", "will", "would", "should", "may", "whats", "hows",
    # ru
    "как", "что", "когда", "где", "почему", "зачем", "сколько", "можно", "какой", "какая",
    "какие", "куда", "ли",
    # hy
    "ինչպես", "ինչ", "երբ", "որտեղ", "ինչու", "քանի", "ով", "որ", "արդյոք", "կարող",
    # ky
    "кантип", "эмне", "качан", "кайда", "эмнеге", "канча", "ким", "кайсы", "болобу",
})


def is_stop_request(text: str) -> bool:
    """The whole message asks to stop what the bot is doing ("never mind", "стоп")."""
    tokens = [w for w in words(text) if w not in _POLITE]
    return bool(tokens) and " ".join(tokens) in STOP_PHRASES


def looks_like_question(text: str) -> bool:
    """A question mark (any script) or a question word at the start."""
    stripped = text.strip()
    if stripped.endswith(("?", "？", "՞")) or "՞" in stripped:
        return True
    tokens = words(normalize(stripped))
    return bool(tokens) and tokens[0] in QUESTION_WORDS
