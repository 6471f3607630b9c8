"""Built-in responses used when a project does not define its own (4 languages)."""
from __future__ import annotations

from supportbot.project.types import Button, Response, ResponseVariation


def _response(name: str, texts: dict[str, list[str]],
              buttons: tuple[Button, ...] = ()) -> Response:
    variations = tuple(
        ResponseVariation(text=t, language=lang, buttons=buttons)
        for lang, items in texts.items() for t in items
    )
    return Response(name, variations)


def _localized_buttons(name: str, texts: dict[str, tuple[str, tuple[str, ...]]],
                       payloads: tuple[str, ...]) -> Response:
    """A response whose button titles are translated too (one variation per language)."""
    variations = tuple(
        ResponseVariation(text=text, language=lang,
                          buttons=tuple(Button(t, p) for t, p in zip(titles, payloads)))
        for lang, (text, titles) in texts.items())
    return Response(name, variations)


BUILTIN_RESPONSES: dict[str, Response] = {
    r.name: r
    for r in (
        _response("utter_default", {
            "en": ["Sorry, I didn't quite get that. Could you put it another way?",
                   "I'm not sure I understood. Could you rephrase your question?"],
            "ru": ["Извините, я не совсем понял. Можете сформулировать иначе?",
                   "Кажется, я вас не понял. Переформулируйте, пожалуйста, вопрос."],
            "hy": ["Ներեցեք, լավ չհասկացա։ Կարո՞ղ եք այլ կերպ ձևակերպել։",
                   "Չեմ համոզված, որ ճիշտ հասկացա։ Խնդրում եմ, վերաձևակերպեք հարցը։"],
            "ky": ["Кечиресиз, толук түшүнгөн жокмун. Башкача жазып бере аласызбы?",
                   "Сизди туура түшүнбөй калдым окшойт. Суроону башкача бериңизчи."],
        }),
        _response("utter_clarify", {
            "en": ["Did you mean one of these?"],
            "ru": ["Вы имели в виду что-то из этого?"],
            "hy": ["Նկատի ունեի՞ք սրանցից մեկը։"],
            "ky": ["Булардын бирин айткыңыз келдиби?"],
        }),
        _response("utter_handoff_confirm", {
            "en": ["Shall I connect you with a person from our team?"],
            "ru": ["Соединить вас с сотрудником поддержки?"],
            "hy": ["Միացնե՞մ ձեզ մեր աշխատակցի հետ։"],
            "ky": ["Сизди биздин кызматкер менен байланыштырайынбы?"],
        }, buttons=(Button("Yes", "/affirm"), Button("No", "/deny"))),
        _localized_buttons("utter_form_stop_confirm", {
            "en": ("Do you want to stop here? What you told me so far won't be used.",
                   ("Yes, stop", "No, continue")),
            "ru": ("Остановиться? То, что вы уже написали, не будет использовано.",
                   ("Да, остановить", "Нет, продолжить")),
            "hy": ("Դադարեցնե՞լ։ Մինչ այժմ ձեր գրածը չի օգտագործվի։",
                   ("Այո, դադարեցնել", "Ոչ, շարունակել")),
            "ky": ("Токтотобузбу? Буга чейин жазганыңыз колдонулбайт.",
                   ("Ооба, токтот", "Жок, улантабыз")),
        }, ("/affirm", "/deny")),
        _response("utter_form_stopped", {
            "en": ["OK, I've stopped. Is there anything else I can help with?"],
            "ru": ["Хорошо, остановил. Могу ещё чем-нибудь помочь?"],
            "hy": ["Լավ, դադարեցրի։ Էլ ինչո՞վ կարող եմ օգնել։"],
            "ky": ["Макул, токтоттум. Дагы эмне менен жардам берейин?"],
        }),
        _response("utter_invalid_value", {
            "en": ["Sorry, that doesn't look right."],
            "ru": ["Извините, это значение не подходит."],
            "hy": ["Ներեցեք, սա ճիշտ չի թվում։"],
            "ky": ["Кечиресиз, бул туура эмес окшойт."],
        }),
        _response("utter_ask_value", {
            "en": ["Could you tell me your {requested_slot}?"],
            "ru": ["Укажите, пожалуйста, {requested_slot}."],
            "hy": ["Խնդրում եմ, նշեք {requested_slot}։"],
            "ky": ["Сураныч, {requested_slot} жазыңыз."],
        }),
        _localized_buttons("utter_action_failed", {
            "en": (("Sorry, something went wrong on our side and I couldn't finish that. You can "
                   "try again in a moment, or talk to a person."), ("Talk to a person",)),
            "ru": (("Извините, у нас что-то пошло не так, и я не смог это выполнить. Попробуйте "
                   "чуть позже или поговорите с сотрудником."), ("Поговорить с сотрудником",)),
            "hy": (("Ներեցեք, մեր կողմում ինչ-որ բան սխալ գնաց, և չկարողացա ավարտել։ Փորձեք մի "
                   "փոքր ուշ կամ խոսեք աշխատակցի հետ։"), ("Խոսել աշխատակցի հետ",)),
            "ky": (("Кечиресиз, биз жакта бир ката кетти, аягына чыгара алган жокмун. Бир аздан "
                   "кийин кайра аракет кылыңыз же кызматкер менен сүйлөшүңүз."),
                   ("Кызматкер менен сүйлөшүү",)),
        }, ("/human_handoff",)),
        _localized_buttons("utter_did_that_help", {
            "en": ("Did that answer your question?", ("Yes, thanks", "Talk to a person")),
            "ru": ("Это ответ на ваш вопрос?", ("Да, спасибо", "Поговорить с сотрудником")),
            "hy": ("Սա պատասխանե՞ց ձեր հարցին։", ("Այո, շնորհակալություն",
                                                  "Խոսել աշխատակցի հետ")),
            "ky": ("Бул сурооңузга жооп болдубу?", ("Ооба, рахмат",
                                                   "Кызматкер менен сүйлөшүү")),
        }, ("/affirm", "/human_handoff")),
        _localized_buttons("utter_recovery_offer", {
            "en": (("Sorry that I couldn't sort this out yet. You can tell me a bit more in other "
                   "words, or talk to a person from our team."), ("Talk to a person",)),
            "ru": (("Извините, что пока не получилось помочь. Опишите, пожалуйста, подробнее "
                   "другими словами или поговорите с сотрудником."),
                   ("Поговорить с сотрудником",)),
            "hy": (("Ներեցեք, որ դեռ չկարողացա օգնել։ Մի փոքր ավելին պատմեք այլ բառերով կամ "
                   "խոսեք մեր աշխատակցի հետ։"), ("Խոսել աշխատակցի հետ",)),
            "ky": (("Кечиресиз, азырынча жардам бере алган жокмун. Башка сөздөр менен дагы бир "
                   "аз айтып бериңиз же кызматкер менен сүйлөшүңүз."),
                   ("Кызматкер менен сүйлөшүү",)),
        }, ("/human_handoff",)),
        _response("utter_talk_to_a_person", {
            "en": ["Talk to a person"],
            "ru": ["Поговорить с сотрудником"],
            "hy": ["Խոսել աշխատակցի հետ"],
            "ky": ["Кызматкер менен сүйлөшүү"],
        }),
        _response("utter_you_are_welcome", {
            "en": ["You're welcome! Anything else I can do for you?"],
            "ru": ["Пожалуйста! Могу ещё чем-нибудь помочь?"],
            "hy": ["Խնդրեմ։ Էլ ինչո՞վ կարող եմ օգնել։"],
            "ky": ["Эч нерсе эмес! Дагы эмне менен жардам берейин?"],
        }),
    )
}
