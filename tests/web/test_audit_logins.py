"""Failed logins to an existing account go into its audit log with the client's address;
an unknown name leaves nothing (no entry can be tied to it) (issue 14)."""

from __future__ import annotations

from fastapi import FastAPI

from service.audit import page_audit
from service.store.creators import get_creator
from tests.web.conftest import MakeVisitor, Visitor


async def test_a_wrong_password_is_recorded_with_the_address(
    app: FastAPI, make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    guesser = await make_visitor("192.0.2.7")
    assert (await guesser.login(visitor.name, "not the password")).status_code == 400
    assert (await guesser.login("nobody-" + visitor.name, "x")).status_code == 400
    with app.state.db.transaction() as session:
        events = page_audit(session, get_creator(session, visitor.name).id, 10, 0).items
        actions = [(e.action, e.address) for e in events]
    assert actions == [("login.failed", "192.0.2.7"), ("creator.created", None)]
