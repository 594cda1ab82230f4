"""The secrets of a script on its edit page (issue 10): set one, remove one, see their names.

Forms of their own beside the script's form (a value is never sent back to the browser);
each answers with a redirect to the edit page and a notice saying what happened.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service import audit
from service.errors import InvalidSecret, NotFound
from service.routes.deps import CipherDep, SessionDep
from service.routes.pages.deps import CheckedForm, SignedIn, mark_page
from service.routes.pages.rendering import redirect
from service.store import scripts as store
from service.store.secrets import delete_secret, set_secret

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


@router.post("/scripts/{name}/secrets")
def set_from_form(
    request: Request,
    name: str,
    creator: SignedIn,
    form: CheckedForm,
    session: SessionDep,
    cipher: CipherDep,
) -> Response:
    script = store.get_script(session, creator.id, name)
    key, value = str(form.get("secret_name") or "").strip(), str(form.get("secret_value") or "")
    back = f"/scripts/{script.name}/edit#secrets"
    try:
        created = set_secret(session, script, key, value, cipher)
    except InvalidSecret as exc:
        return redirect(request, back, notice=f"Nothing was saved: {exc}")
    audit.record(session, creator.id, "secret.set", f"{script.name}/{key}", created=created)
    return redirect(request, back, notice=f"Secret {key} saved; runs see it as os.environ.")


@router.post("/scripts/{name}/secrets/{key}/delete")
def delete_from_form(
    request: Request, name: str, key: str, creator: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    script = store.get_script(session, creator.id, name)
    back = f"/scripts/{script.name}/edit#secrets"
    try:
        delete_secret(session, script, key)
    except NotFound:
        return redirect(request, back, notice=f"There is no secret named {key[:70]}.")
    audit.record(session, creator.id, "secret.removed", f"{script.name}/{key}")
    return redirect(request, back, notice=f"Secret {key} removed.")
