"""Language identification on short customer messages (en, ru, hy, ky)."""
from __future__ import annotations

import pytest

from supportbot.nlu.langid import LanguageDetector, detect_language

ENGLISH = [
    "Hi there",
    "hello, anyone there?",
    "Good morning!",
    "Where is my order?",
    "where's my package??",
    "My order hasn't arrived yet",
    "I want a refund",
    "can I get my money back",
    "Thanks a lot!",
    "thank you so much",
    "How do I reset my password",
    "I need to talk to a real person",
    "the item came damaged",
    "cancel my subscription please",
    "What are your opening hours?",
    "do you ship to Canada",
    "this is ridiculous, nobody answers",
    "I was charged twice for order 55812",
]

RUSSIAN = [
    "Здравствуйте!",
    "Добрый вечер",
    "Привет, подскажите пожалуйста",
    "Где мой заказ?",
    "Заказ до сих пор не пришёл",
    "Хочу вернуть деньги",
    "Оформите мне возврат",
    "Спасибо!",
    "Большое спасибо, всё понятно",
    "Как сменить пароль?",
    "Не могу зайти в аккаунт",
    "Позовите оператора",
    "Посылка пришла повреждённая",
    "Когда доставят?",
    "Сколько стоит доставка в Ош?",
    "Вы работаете в выходные?",
    "Почему с карты списали деньги два раза",
    "Отмените заказ 12345",
    "ок спасибо",
    "Мой iPhone до сих пор не доставили",
]

KYRGYZ = [
    "Салам!",
    "Саламатсызбы, жардам керек",
    "Кандайсыз",
    "Менин заказым кайда?",
    "Буйрутмам дагы эле келе элек",
    "Посылкам качан келет?",
    "Акчамды кайтарып бергиле",
    "Акча кайтарууну кантип жасайм?",
    "Рахмат!",
    "Чоң рахмат, баары түшүнүктүү",
    "Сырсөздү кантип алмаштырам?",
    "Аккаунтка кире албай жатам",
    "Оператор менен байланыштырып коюңузчу",
    "Товар бузулуп келди",
    "Жеткирүү Ошко канча турат?",
    "Дем алыш күндөрү иштейсиздерби?",
    "Картамдан эки жолу акча кетти",
    "Буйрутманы жокко чыгарып коюңуз",
    "рахмат жакшы",
    "заказ качан келет",
    "салам, сураным бар эле",
    "кайтаруу учун эмне кылыш керек",  # typed without the Kyrgyz letters
]

ARMENIAN = [
    "Բարև",
    "Բարև ձեզ",
    "Որտե՞ղ է իմ պատվերը",
    "Իմ պատվերը դեռ չի եկել",
    "Ուզում եմ գումարս հետ ստանալ",
    "Շնորհակալություն",
    "Շատ շնորհակալ եմ",
    "Ինչպե՞ս փոխել գաղտնաբառը",
    "Չեմ կարողանում մուտք գործել",
    "Ուզում եմ խոսել օպերատորի հետ",
    "Ապրանքը վնասված է եկել",
    "Առաքումը որքա՞ն արժե",
    "Ե՞րբ կառաքեք",
    "Չեղարկեք պատվերս",
    "Ժամը քանիսի՞ն եք բացվում",
    "Մերսի",
    "Լավ, սպասում եմ",
    "Պատվեր #12345 որտեղ է",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text: str) -> None:
    assert detect_language(text, default="ru") == "en"


@pytest.mark.parametrize("text", RUSSIAN)
def test_russian(text: str) -> None:
    # A Kyrgyz or English default must not pull a Russian message over.
    assert detect_language(text, default="ky") == "ru"
    assert detect_language(text, default="en") == "ru"


@pytest.mark.parametrize("text", KYRGYZ)
def test_kyrgyz(text: str) -> None:
    assert detect_language(text, default="ru") == "ky"
    assert detect_language(text, default="en") == "ky"


@pytest.mark.parametrize("text", ARMENIAN)
def test_armenian(text: str) -> None:
    assert detect_language(text, default="ru") == "hy"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "12345", "#A-99812", "👍", "🙏🙏", "ok", "OK!", "ок", "Окей 👌",
     "ivan.petrov@mail.ru", "https://shop.kg/orders/1", "iPhone 13", "???", "+996 555 123 456"],
)
@pytest.mark.parametrize("default", ["en", "ru", "hy", "ky"])
def test_no_language_evidence_keeps_default(text: str, default: str) -> None:
    assert detect_language(text, default=default) == default


@pytest.mark.parametrize("default", ["en", "ru", "hy", "ky"])
def test_mixed_scripts_keep_default(default: str) -> None:
    assert detect_language("привет hello", default=default) == default
    assert detect_language("Բարև привет", default=default) == default


def test_single_english_word_is_english() -> None:
    assert detect_language("help", default="ru") == "en"
    assert detect_language("Thanks!", default="ky") == "en"


def test_unsupported_script_keeps_default() -> None:
    assert detect_language("你好，我的订单在哪里", default="ru") == "ru"


def test_candidates_restrict_the_answer() -> None:
    # Without Kyrgyz among the candidates, Kyrgyz text is read as the nearest: Russian.
    assert detect_language("Менин заказым кайда?", candidates=("en", "ru")) == "ru"
    # Without Armenian, Armenian text falls back to the default.
    assert detect_language("Բարև ձեզ", candidates=("en", "ru"), default="ru") == "ru"
    assert detect_language("Где мой заказ?", candidates=("en", "ky")) == "ky"
    assert detect_language("Where is my order?", candidates=("ru", "ky"), default="ky") == "ky"


def test_detector_uses_previous_language_for_ties() -> None:
    detector = LanguageDetector(candidates=("en", "ru", "ky"), default="en")
    assert detector.detect("12345") == "en"
    assert detector.detect("12345", previous="ky") == "ky"
    assert detector.detect("Где мой заказ?", previous="ky") == "ru"


def test_is_deterministic() -> None:
    results = {detect_language(t) for t in ["Рахмат!"] * 5}
    assert results == {"ky"}
