"""Language identification for short customer messages (en, ru, hy, ky).

Deterministic, dependency-free and fast (a few microseconds per message):

1. The script decides first: Armenian letters -> ``hy``, Latin letters -> ``en``,
   Cyrillic letters -> Russian or Kyrgyz (step 2). Text with no letters, only
   language-neutral tokens ("ok", "ок", order numbers, e-mail addresses, links, emoji),
   a mix where no script holds at least 60% of the words, or a single Latin word that
   is not a common English word (a brand such as "iPhone") returns ``default``: the
   caller passes the conversation's previous language.
2. Russian vs Kyrgyz is a sum of per-word evidence: the Kyrgyz-only letters ң ө ү,
   built-in lists of frequent Kyrgyz and Russian words (Kyrgyz also as typed without
   the special letters: "учун", "бугун"), long vowels (оо, уу, ээ), typical suffixes,
   letters Kyrgyz only has in loanwords (ё ъ щ ц ф ь), and a character-trigram model
   trained at import time from a small built-in phrase list. A near tie returns
   ``default`` when it is Russian or Kyrgyz, else ``ru``.

Armenian or Russian written in Latin letters is out of scope (it is read as English).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_LANGUAGES", "LanguageDetector", "detect_language"]

DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "ru", "hy", "ky")

def _words(blob: str) -> tuple[str, ...]:
    """The whitespace-separated words of a built-in list."""
    return tuple(blob.split())


_DOMINANCE = 0.6  # share of words the winning script needs; below it the text is "mixed"
_TIE_MARGIN = 1.0  # |kyrgyz score| below this is a tie between Russian and Kyrgyz
_WORD_CLAMP = 2.0  # cap on one word's trigram evidence: a known word (3.0) outweighs it

# Links, e-mail addresses and anything with a digit (order numbers, phones) say nothing
# about the language.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+", re.IGNORECASE)
_TOKEN = re.compile(r"\w+")

_NEUTRAL = frozenset(
    _words(
        "ok okay okey oki k kk ок окей оке океу ага угу мм ммм хм хмм лол lol hmm hm haha "
        "aha хаха ахах ахаха ха хех"
    )
)

# Common English words: a single Latin word counts as English only when it is one of these.
_ENGLISH = frozenset(
    _words(
        """
    hi hello hey hiya yo thanks thank thx ty cheers bye goodbye please pls plz yes yeah yep
    no nope not sure great good fine cool nice bad wrong right help helpful stop cancel refund
    return order orders delivery shipping shipment package parcel payment pay paid price cost
    account login password reset email phone address where when what why how who which is are
    was my me i you we it the a an and or but to for of in on at with from this that
    agent human operator person someone support sorry wait again status track tracking
    anyone there hours open closed today tomorrow now yesterday time card money back
    damaged broken missing late exchange size question problem issue complaint invoice receipt
    discount coupon promo subscription unsubscribe menu start restart later ready done
    """
    )
)

# Word evidence: positive for Kyrgyz, negative for Russian.
_KY_STRONG = """
салам саламатсызбы саламатсыздарбы саламатсыңарбы саламатсынарбы рахмат ракмат рахмаат
кандай кандайсыз кандайсың кандайсын кандайча жакшы жакшымын жакшысызбы жок жокпу ооба
макул эмне эмнеге эмнени эмнеден эмнеси качан кайда кайсы канча канчага канчада кантип ким
кимге кимди барбы керек керекпи керектүү менен мага сага менин мени мен сен сиз сизге
сизди сиздин сиздер сиздерге силер биз бизге биздин бизде алар аны анын бул ушул ошол жана
бирок үчүн учун дагы азыр эртең эртен бүгүн бугун кечээ жардам бериңиз бериниз
бериңизчи берип берет бербей айтып айтыңыз айтыныз айтсаңыз келет келди келбейт келбей
келген келе элек болот болобу болду болбойт болуп болсо жатат жатам жатабы жатасыз
жатышат алам алабы алсам албай алгым кылам кылып акча акчам акчамды акчаны кайтарып
кайтаруу буйрутма буйрутмам буйрутманы буйрутмамды жеткирүү жеткируу жеткирип
жеткиресиз дукон убакыт саат күн кун эч нерсе абдан аябай чоң чон көп коп сураныч суранам
кечиресиз кечирип түшүнбөдүм тушунбодум түшүнбөйм билбейм билем билесизби беле экен
туура шашылыш жооп жообу жазып жазыңыз чалып номерим телефонум заказым заказымды картам
дарегим товарым баасы кымбат арзан сатып ачылат жабылат иштейт иштебей иштебейт кетти
чыкты азырынча эмес жакшылап карап караңыз кайрылсам кайрылам азыркы кийин мурун жолу бир
эки үч беш жума саатта мүмкүн мүмкүнбү болушу келиңиз кириңиз тапшырык дарек бекер акысыз
төлөп төлөдүм төлөгөм кечикти кечигип эч качан ушундай андай мындай кантсем кылсам
ассалому ассалоому алейкум
"""
# Words both languages use; the weight is a lean, not a verdict.
_WEAK = {"бар": 1.5, "да": -1.0, "али": 1.0, "эле": 3.0}
_RU_STRONG = """
здравствуйте здравствуй здрасте здрасьте привет приветствую добрый доброе доброго день дня
вечер утро спасибо спс благодарю пожалуйста пожалуйсто пж не нет как мой моя моё мое мои
моего моей мне меня мной я ты мы вы вас вам ваш ваша ваше ваши вашего он она они оно его
её ее их где что чтобы чем когда почему зачем сколько можно нельзя нужно надо нужен нужна
хочу хотел хотела хотим хотите заказ заказа заказу заказом заказе заказы деньги денег
возврат возврата вернуть верните помогите помочь помощь подскажите скажите это этот эта
эти того тот уже ещё еще и в во на с со у к ко по за из о об до от для без или но так то
если есть был была было были будет бы ли же вот все всё только очень тоже также просто
сейчас сегодня завтра вчера работает оплата оплату оплатить оплатил оплатила доставка
доставки доставку товар товара пришел пришёл пришла пришло получил получила получить
человек человеком связаться поговорить отменить отмена карта карты картой ошибка проблема
вопрос хорошо ладно понятно пароль войти ну какой какая какие кто кому куда откуда долго
никто ничего ответьте ответ жду ждать алло сам сама сами свой свою мою моему вашей который
которая при через после перед под над про раз два три дней неделю недели месяц час часа минут
должен должны могу можете может сделать сделал знаю понял поняла вижу пишу пишет звоню написал
написала тут там здесь опять снова вообще почти пока потом тогда теперь лучше больше быстрее сразу
"""

_KY_LETTERS = frozenset("ңөү")
_RU_LETTERS = frozenset("ёъщцфь")
_LONG_VOWELS = ("аа", "оо", "уу", "ээ", "үү", "өө", "ыы")
_KY_SUFFIXES = (
    "бы", "би", "бу", "пы", "пи", "пу",  # question particle (барбы, болобу, керекпи)
    "сыз", "сиз", "суз", "ңыз", "ңиз", "ңуз", "ныз", "низ", "нуз",  # polite "you"
    "дын", "дин", "дун", "тын", "тин", "тун", "нын", "нин", "нун",  # genitive
    "дым", "дим", "дум", "тым", "тим", "тум",  # 1st person past
    "ган", "ген", "гон", "кан", "кен", "кон",  # participle
    "гым", "гум", "гим",  # desire (алгым келет)
    "чы", "чи", "чу",  # softened imperative (бериңизчи)
    "мын", "мин", "мун",  # "I am"
    "гыла", "гиле", "гула", "кыла", "киле", "кула",  # plural imperative (бергиле)
    "ып", "ип", "уп", "үп",  # converb (кайтарып, которуп)
)
_RU_SUFFIXES = (
    "ться", "тся", "ешь", "ишь", "ете", "ите", "айте", "ойте", "уйте", "ость",
    "ение", "ание", "ого", "его", "ому", "ему", "ый", "ий", "ая", "яя", "ое", "ые", "ие",
    "ать", "ять", "еть", "ить", "уть", "ал", "ала", "ало", "или", "ела", "ило", "ция",
)

# Short phrases the trigram model learns from (not the test set).
_KY_PHRASES = """
саламатсызбы кандайсыз кандай жардам бере аласыз менин буйрутмам кайда буйрутмам качан келет
заказым али келе элек акчамды кайтарып бериңиз акчамды кайтарып алгым келет төлөм өтпөй жатат
картам менен төлөй албай жатам жеткирүү канча убакыт алат жеткирүү акысызбы канча турат баасы канча
дүкөнүңүз саат канчада ачылат иш убактыңыз кандай оператор менен сүйлөшкүм келет тирүү адам менен
сүйлөшсөм болобу сырсөзүмдү унутуп калдым аккаунтума кире албай жатам товар сынык келди башка товар
келип калды буйрутманы жокко чыгаргым келет буйрутманы кантип жокко чыгарам дарегимди өзгөртүү керек
жеткирүү дареги туура эмес чоң рахмат рахмат жардамыңыз үчүн жакшы түшүндүм жок керек эмес ооба туура
макул күтөм эмне үчүн мынча узак эч ким жооп бербей жатат силер эмне иштебей жатасыңар кечиресиз
түшүнгөн жокмун дагы бир суроом бар бул адилеттүү эмес мен нааразымын кайтаруу эрежелериңиз кандай
кепилдик барбы бишкекке жеткирүү барбы ошко жеткиресизби насыяга алса болобу накталай акча менен
төлөсө болобу чек керек эсеп жибериңиз тилекке каршы абдан жаман тейлөө мага жооп бериңиз кимге
кайрылсам болот эртең алып кетсем болобу бүгүн жеткирип бере аласызбы кечээ төлөдүм бирок акча
кайтпады рахмат жардамыныз учун дукон саат канчада ачылат буйрутмамды таба албай жатамын бир жумадан
бери күтүп жатам телефонуңуздар жооп бербейт мага чалып коюңузчу кайра байланышам алдын ала рахмат
эмнеге мынча кымбат арзаныраак барбы өлчөмү туура келбеди алмаштырсам болобу жаңы дарекке жөнөтүп
бериңиз кайсы убакта келесиздер менден эки жолу акча алынып калды билдирүү келбей жатат колдонмо
ачылбай жатат жардам керек тезирээк жооп бериңизчи жакшы күн болсун көрүшкөнчө
өзүм барып алып кетем пункттан алсам болобу менин посылкамдын абалын айтып бериңизчи акча
картага качан кайтат акча кетти бирок буйрутма катталган жок сизге үчүнчү жолу жазып жатам мени
менен байланышыңызчы буйрутманын чоо жайын тактагым келет алганда төлөсөм болобу курьер эки саатка
кечикти товар сүрөттөмөгө туура келбейт буйрутмалардын тарыхын кайдан көрсө болот ырастоо коду
келбей жатат тейлөө жаккан жок тез арада бир нерсе кылыңыздар
"""
_RU_PHRASES = """
здравствуйте добрый день привет где мой заказ когда придет мой заказ хочу вернуть деньги верните
деньги за товар как оформить возврат не могу оплатить картой оплата не проходит сколько стоит
доставка сколько идет доставка в бишкек во сколько вы открываетесь какой у вас график работы
хочу поговорить с оператором соедините с живым человеком забыл пароль не могу войти в личный
кабинет товар пришел сломанный мне привезли не тот товар хочу отменить заказ как изменить адрес
доставки спасибо большое спасибо за помощь понятно спасибо нет не нужно да все верно хорошо жду
почему так долго мне никто не отвечает вы что издеваетесь извините я не понял у меня еще один
вопрос это нечестно я недоволен обслуживанием какие у вас условия возврата есть ли гарантия можно
ли оплатить наличными нужен чек пришлите счет к сожалению ужасный сервис ответьте пожалуйста к кому
обратиться можно забрать завтра можете доставить сегодня вчера оплатил а деньги не вернулись
подскажите пожалуйста где найти номер заказа уже неделю жду посылку ваш телефон не отвечает
перезвоните мне пожалуйста заранее спасибо почему так дорого есть что нибудь дешевле размер не
подошел можно обменить отправьте на новый адрес в какое время приедет курьер с меня списали деньги
дважды не приходит смс приложение не открывается нужна помощь ответьте быстрее всего доброго
до свидания хорошего дня
алло вы меня слышите заберу сам из пункта выдачи можно самовывоз подскажите статус моей посылки
когда будет возврат средств на карту у меня списали деньги а заказ не оформился пишу вам уже
третий раз свяжитесь со мной пожалуйста я хотела бы уточнить детали заказа можно оплатить при
получении курьер опоздал на два часа товар не соответствует описанию где можно посмотреть историю
заказов не приходит код подтверждения оставьте отзыв мне не понравилось обслуживание сделайте
что нибудь срочно
"""


def _trigrams(word: str) -> list[str]:
    padded = f" {word} "
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


@dataclass(frozen=True)
class _TrigramModel:
    """Log-likelihood ratio (Kyrgyz over Russian) of character trigrams, add-one smoothed."""

    ratios: dict[str, float]
    unseen: float  # ratio for a trigram neither language saw

    @classmethod
    def train(cls, kyrgyz: Sequence[str], russian: Sequence[str]) -> _TrigramModel:
        ky = Counter(g for w in kyrgyz for g in _trigrams(w))
        ru = Counter(g for w in russian for g in _trigrams(w))
        vocab = len(set(ky) | set(ru)) + 1
        ky_total, ru_total = sum(ky.values()) + vocab, sum(ru.values()) + vocab
        ratios = {
            g: math.log((ky[g] + 1) / ky_total) - math.log((ru[g] + 1) / ru_total)
            for g in set(ky) | set(ru)
        }
        return cls(ratios, math.log(ru_total / ky_total))

    def score(self, word: str) -> float:
        get = self.ratios.get
        total = sum(get(g, self.unseen) for g in _trigrams(word))
        return max(-_WORD_CLAMP, min(_WORD_CLAMP, total))


def _build_lexicon() -> dict[str, float]:
    lexicon: dict[str, float] = {}
    for w in _words(_KY_STRONG):
        lexicon[w] = 3.0
    for w in _words(_RU_STRONG):
        lexicon[w] = -3.0
    lexicon.update(_WEAK)
    return lexicon


_LEXICON = _build_lexicon()
_MODEL = _TrigramModel.train(
    _words(_KY_PHRASES) + _words(_KY_STRONG), _words(_RU_PHRASES) + _words(_RU_STRONG)
)


def _script(ch: str) -> str | None:
    """The script of one character: latin, cyrillic, armenian, other; None for non-letters."""
    if not ch.isalpha():
        return None
    o = ord(ch)
    if o < 0x0250 or 0x1E00 <= o <= 0x1EFF:
        return "latin"
    if 0x0400 <= o <= 0x052F:
        return "cyrillic"
    if 0x0530 <= o <= 0x058F or 0xFB13 <= o <= 0xFB17:
        return "armenian"
    return "other"


def _word_score(word: str) -> float:
    """Evidence that one lower-case Cyrillic word is Kyrgyz (> 0) rather than Russian (< 0)."""
    known = _LEXICON.get(word)
    if known is not None:
        return known
    if not _KY_LETTERS.isdisjoint(word):
        return 6.0  # Russian has no ң ө ү
    score = _MODEL.score(word)
    if any(v in word for v in _LONG_VOWELS):
        score += 1.5
    if not _RU_LETTERS.isdisjoint(word):
        score -= 1.5
    if len(word) >= 4:
        if word.endswith(_KY_SUFFIXES):
            score += 1.0
        if word.endswith(_RU_SUFFIXES):
            score -= 1.0
    return score


def _first(order: Sequence[str], candidates: Sequence[str], default: str) -> str:
    for lang in order:
        if lang in candidates:
            return lang
    return default


def detect_language(
    text: str, candidates: Sequence[str] = DEFAULT_LANGUAGES, default: str = "en"
) -> str:
    """The language of a short message: one of `candidates`, or `default` when unsure.

    `default` should be the conversation's previous language, so that "ok", "12345" or an
    e-mail address does not switch the conversation's language.
    """
    words: list[tuple[str, str]] = []  # (lower-case word, its script)
    for chunk in _NOISE.sub(" ", text).lower().split():
        if any(c.isdigit() for c in chunk):
            continue  # order numbers, phone numbers, prices, codes such as A-99812
        for token in _TOKEN.findall(chunk):
            if token in _NEUTRAL or "_" in token:
                continue
            script = _script(token[0])
            if script:
                words.append((token, script))
    if not words:
        return default
    scripts = Counter(s for _, s in words)
    script, count = scripts.most_common(1)[0]
    if count < _DOMINANCE * len(words):
        return default
    if script == "armenian":
        return _first(("hy",), candidates, default)
    if script == "latin":
        latin = [w for w, s in words if s == "latin"]
        if len(latin) == 1 and latin[0] not in _ENGLISH:
            return default  # a brand, a name or a code: not enough to switch language
        return _first(("en",), candidates, default)
    if script == "cyrillic":
        score = sum(_word_score(w) for w, s in words if s == "cyrillic")
        if score >= _TIE_MARGIN:
            return _first(("ky", "ru"), candidates, default)
        if score <= -_TIE_MARGIN or default not in ("ru", "ky"):
            return _first(("ru", "ky"), candidates, default)
        return _first((default,), candidates, default)
    return default


@dataclass(frozen=True)
class LanguageDetector:
    """`detect_language` with the project's candidate languages bound (`config.nlu.languages`)."""

    candidates: tuple[str, ...] = DEFAULT_LANGUAGES
    default: str = "en"

    def detect(self, text: str, previous: str | None = None) -> str:
        """The language of `text`; `previous` (the conversation's last language) breaks ties."""
        return detect_language(text, self.candidates, previous or self.default)
