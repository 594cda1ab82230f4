"""/api/v1/scripts/{name}/secrets: a script's secrets (issue 10), by name; never their values.

PUT stores (or replaces) one, DELETE removes it, GET lists the names. Runs of the script see
them as ``os.environ``; their values are redacted from everything a run leaves behind.
Another creator's script is 404, like every object that is not yours.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from service import audit
from service.routes.deps import CipherDep, CurrentCreator, SessionDep
from service.routes.schemas import ErrorOut, SecretOut, SecretSet, SecretsOut
from service.store import scripts as store
from service.store.secrets import check_name, delete_secret, secret_names, set_secret

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."},
    404: {"model": ErrorOut, "description": "No such script (or not yours), or no such secret."},
}

router = APIRouter(prefix="/api/v1/scripts", tags=["secrets"], responses=_ERRORS)
NamePath = Annotated[str, Path(description="The script's name (any case).")]
KeyPath = Annotated[
    str, Path(max_length=100, description="The secret's name: an environment variable name.")
]


@router.get("/{name}/secrets")
def list_secrets(name: NamePath, creator: CurrentCreator, session: SessionDep) -> SecretsOut:
    """The names of the script's secrets (never their values)."""
    script = store.get_script(session, creator.id, name)
    items = [SecretOut(name=key, updated_at=at) for key, at in secret_names(session, script)]
    return SecretsOut(items=items)


@router.put(
    "/{name}/secrets/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={422: {"model": ErrorOut, "description": "A bad name or value, or too many."}},
)
def put_secret(
    name: NamePath,
    key: KeyPath,
    body: SecretSet,
    creator: CurrentCreator,
    session: SessionDep,
    cipher: CipherDep,
) -> Response:
    """Store the secret ``key`` of the script (replacing its value); runs from now on see it
    as ``os.environ[key]``."""
    script = store.get_script(session, creator.id, name)
    created = set_secret(session, script, check_name(key), body.value, cipher)
    audit.record(session, creator.id, "secret.set", f"{script.name}/{key}", created=created)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{name}/secrets/{key}", status_code=status.HTTP_204_NO_CONTENT)
def remove_secret(
    name: NamePath, key: KeyPath, creator: CurrentCreator, session: SessionDep
) -> Response:
    script = store.get_script(session, creator.id, name)
    delete_secret(session, script, key)
    audit.record(session, creator.id, "secret.removed", f"{script.name}/{key}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
