"""Script bots in the style creators publish for Poe, saved unchanged and queried through
the real fastapi_poe client: classes with run(), private helpers and state, prompt
templates built with str.format, parallel bot calls, settings with parameter controls read
at save time, dataclasses under ``from __future__ import annotations``, decorators."""

from __future__ import annotations

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, ask
from tests.upstream import ACCESS_KEY

PANEL = '''\
"""Ask the same question to a panel of bots and merge their answers."""
from __future__ import annotations

import dataclasses
import functools
from fastapi_poe.types import SettingsResponse, ParameterControls, Section, DropDown, ValueNamePair

_PANEL = ("Echo", "Echo", "Echo")
_PROMPT = "Question from {user!r}: {question}\\nAnswer as {style.name}."

poe.update_settings(SettingsResponse(
    introduction_message="Ask me anything; a panel answers.",
    parameter_controls=ParameterControls(api_version="2", sections=[Section(
        name="Answer", controls=[DropDown(
            label="Style", parameter_name="style", default_value="Plain",
            options=[ValueNamePair(value="Plain", name="Plain"),
                     ValueNamePair(value="Pirate", name="Pirate")],
        )],
    )]),
))


@dataclasses.dataclass
class Style:
    name: str
    _prefix: str = ""

    def __post_init__(self) -> None:
        self._prefix = "Arr! " if self.name == "Pirate" else ""


def _logged(fn):
    @functools.wraps(fn)
    def wrapper(self, *args):
        self._log.append(fn.__name__)
        return fn(self, *args)
    return wrapper


class PanelBot:
    """Fans a question out and merges what comes back."""

    def __init__(self) -> None:
        self._log: list[str] = []
        self._answers: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"PanelBot({len(self._answers)} answers)"

    @_logged
    def _ask_one(self, index: int, prompt: str) -> None:
        self._answers[index] = poe.call(_PANEL[index], prompt, output=None).text

    @_logged
    def _merge(self, style: Style) -> str:
        first, *rest = sorted(self._answers.items())
        agree = all(text == first[1] for _, text in rest)
        return style._prefix + ("The panel agrees" if agree else "The panel differs")

    def run(self) -> None:
        style = Style(poe.query.parameters.get("style", "Plain"))
        prompt = _PROMPT.format(user="creator", question=poe.query.text, style=style)
        poe.parallel(*[functools.partial(self._ask_one, i, prompt) for i in range(len(_PANEL))])
        print(self._merge(style), "({0} of {1}).".format(len(self._answers), len(_PANEL)))
        print(repr(self), "after", ", ".join(sorted(set(self._log))))


if __name__ == "__main__":
    PanelBot().run()
'''

TEMPLATES = """\
import string
from collections import namedtuple
from enum import Enum


class Tone(Enum):
    FRIENDLY = "friendly"
    FORMAL = "formal"

    @classmethod
    def _missing_(cls, value):
        return cls.FRIENDLY


Reply = namedtuple("Reply", "greeting body")


class Shouting(string.Formatter):
    def format_field(self, value, spec):
        return format(value, spec).upper()


class _Registry:
    _items = {}

    def __init_subclass__(cls, key="", **kwargs):
        super().__init_subclass__(**kwargs)
        _Registry._items[key] = cls

    def __getattr__(self, name):
        return f"<no {name}>"


class Greeter(_Registry, key="greet"):
    __slots__ = ()

    def __call__(self, who):
        return "Hello {who}".format_map({"who": who})


def main():
    tone = Tone(poe.query.text.lower())
    handler = _Registry._items["greet"]()
    reply = Reply(handler("Ann"), "body")._replace(body=Shouting().format("{0} tone", tone.value))
    Dynamic = type("Dynamic", (), {"_hidden": 3, "show": lambda self: self._hidden * 2})
    scope = dict(globals())
    print(reply.greeting, "|", reply.body, "|", handler.missing, "|", Dynamic().show(),
          "|", "main" in scope and "__builtins__" not in scope, "|", '__call__' in vars(Greeter))


if __name__ == "__main__":
    main()
"""


async def test_a_panel_bot_with_settings_parallel_calls_and_private_helpers_runs_unchanged(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, PANEL, access_key=ACCESS_KEY)
    settings = service.api("GET", f"/scripts/{name}", creator).json()["settings"]
    assert settings["introduction_message"] == "Ask me anything; a panel answers."
    assert settings["parameter_controls"]["sections"][0]["controls"][0]["parameter_name"] == (
        "style"
    )
    text = await ask(service, name, ACCESS_KEY, "What is Poe?")
    assert text == ("The panel agrees (3 of 3).\n\nPanelBot(3 answers) after _ask_one, _merge")
    prompts = [q.query[-1].content for q in service.upstream.record.queries["Echo"][-3:]]
    assert prompts == ["Question from 'creator': What is Poe?\nAnswer as Plain."] * 3


async def test_templates_enums_registries_and_dynamic_classes_run_unchanged(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, TEMPLATES, access_key=ACCESS_KEY)
    assert await ask(service, name, ACCESS_KEY, "unknown") == (
        "Hello Ann | FRIENDLY tone | <no missing> | 6 | True | True"
    )
