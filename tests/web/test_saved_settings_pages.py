"""The new/edit form and the .py upload read a script's settings as saving through the API
does: ``poe.update_settings`` before the main block sets them, an error there is shown at its
line with nothing saved, a script without it keeps the form's settings (SPEC §10)."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.store.db import Database
from service.store.tables import Script, ScriptVersion
from tests.conftest import unique_name
from tests.web.conftest import Visitor

SETTINGS_SOURCE = """\
from fastapi_poe.types import SettingsResponse

poe.update_settings(SettingsResponse(introduction_message="From the source"))

if __name__ == "__main__":
    print("hello")
"""

FAILING_SOURCE = """\
import fastapi_poe as fp

limits = {"max": 3}
poe.update_settings(fp.SettingsResponse(introduction_message=limits["min"]))

if __name__ == "__main__":
    print("hello")
"""

PLAIN_SOURCE = """\
def shout(text):
    return text.upper()

if __name__ == "__main__":
    print(shout(poe.query.text))
"""


def _current(db: Database, name: str) -> ScriptVersion:
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        version = session.scalar(
            select(ScriptVersion).where(
                ScriptVersion.script_id == script.id,
                ScriptVersion.number == script.current_version,
            )
        )
        assert version is not None
        return version


async def test_the_form_saves_the_settings_the_source_sets(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script(SETTINGS_SOURCE, introduction_message="From the form")
    assert _current(db, name).settings == {"introduction_message": "From the source"}
    page = await visitor.get(f"/scripts/{name}")
    assert "From the source" in page.text
    assert "poe.update_settings" in page.text  # the page says where the settings come from


async def test_an_error_while_reading_settings_is_shown_at_its_line(
    visitor: Visitor, db: Database
) -> None:
    name = unique_name()
    await visitor.get("/new")
    response = await visitor.post("/scripts", {"name": name, "source": FAILING_SOURCE})
    assert response.status_code == 422
    assert re.findall(r'<li data-line="(\d+)" data-col="(\d+)">', response.text) == [("4", "1")]
    assert "KeyError" in response.text and "settings were read" in response.text
    with db.transaction() as session:
        assert session.scalar(select(Script).where(Script.name == name)) is None


async def test_a_script_without_update_settings_keeps_the_forms_settings(
    visitor: Visitor, db: Database
) -> None:
    name = await visitor.create_script(PLAIN_SOURCE, introduction_message="From the form")
    version = _current(db, name)
    assert version.settings is None
    page = await visitor.get(f"/scripts/{name}")
    assert "From the form" in page.text


async def test_editing_reads_the_new_sources_settings(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script(PLAIN_SOURCE)
    await visitor.get(f"/scripts/{name}/edit")
    saved = await visitor.post(f"/scripts/{name}/edit", {"source": SETTINGS_SOURCE})
    assert saved.status_code == 303, saved.text
    assert _current(db, name).settings == {"introduction_message": "From the source"}
    await visitor.get(f"/scripts/{name}/edit")
    refused = await visitor.post(f"/scripts/{name}/edit", {"source": FAILING_SOURCE})
    assert refused.status_code == 422
    assert _current(db, name).number == 2  # nothing saved


async def test_an_upload_named_by_its_header_with_its_settings(
    visitor: Visitor, db: Database
) -> None:
    name = unique_name("Up")
    source = f"# poe: name={name}\n# poe: privacy_shield=full\n{SETTINGS_SOURCE}"
    await visitor.get("/new")
    response = await visitor.post(
        "/scripts",
        {"name": "", "source": ""},
        files={"source_file": ("bot.py", source.encode(), "text/x-python")},
    )
    assert response.status_code == 303, response.text
    version = _current(db, name)
    assert version.settings == {"introduction_message": "From the source"}
    assert (version.privacy_shield, version.header["name"]) == ("full", name)
    page = await visitor.get(f"/scripts/{name}")
    assert "# poe: privacy_shield" in page.text and "privacy shield" in page.text
