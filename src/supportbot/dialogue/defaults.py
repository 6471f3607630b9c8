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
    )
}
