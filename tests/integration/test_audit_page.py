"""Checking the audit trail from the command line and from the web page (A-1, A-2)."""

import pytest
from sqlalchemy import delete, select, update

from engine import make_engine
from engine.models import AuditEvent
from tests.unit.test_audit_chain import guards_off


@pytest.fixture
def sa_engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def tamper(sa_engine) -> AuditEvent:
    """Rewrite who completed the first completed task, around the triggers; returns the row."""
    with sa_engine.connect() as connection:
        row = connection.execute(select(AuditEvent).where(AuditEvent.action == "task_completed")
                                 .order_by(AuditEvent.id).limit(1)).one()
    with guards_off(sa_engine) as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(actor="someone_else"))
    return row


def test_cli_reports_an_intact_trail(demo, runner, sa_engine):
    with sa_engine.connect() as connection:
        count = len(connection.execute(select(AuditEvent.id)).all())
    result = runner.invoke(args=["audit", "verify", "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"audit trail intact: {count} entries checked"


def test_cli_names_the_first_broken_link_and_fails(demo, runner, sa_engine):
    row = tamper(sa_engine)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit trail broken at entry {row.id} " in result.stderr
    assert "its content does not match its hash" in result.stderr


def test_cli_refuses_a_bad_batch_size(runner):
    result = runner.invoke(args=["audit", "verify", "--batch-size", "0"])
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_page_shows_an_intact_trail(demo, browser):
    page = browser("qa_sun").get("/audit/verify")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="chain-ok"' in body and 'data-testid="chain-broken"' not in body


def test_page_shows_the_broken_link(demo, browser, sa_engine):
    row = tamper(sa_engine)
    page = browser("mgr_wu").get("/audit/verify", headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="chain-broken"' in body and 'data-testid="chain-ok"' not in body
    assert f'<dd data-testid="broken-id">{row.id}</dd>' in body
    assert 'data-reason="content"' in body
    assert row.instance_id in body and row.element_name in body and "someone_else" in body


@pytest.mark.parametrize("user, status", [
    ("qa_sun", 200), ("po_zhou", 200), ("mgr_wu", 200), ("admin", 200),
    ("cs_zhang", 403), ("sup_zhao", 403), ("tech_chen", 403), ("owner_wang", 403)])
def test_who_may_check_the_trail(demo, browser, user, status):
    person = browser(user)
    assert person.get("/audit/verify").status_code == status
    home = person.get("/", follow_redirects=True).get_data(as_text=True)
    assert ('data-testid="nav-audit"' in home) == (status == 200)


def test_signing_in_comes_first(client):
    response = client.get("/audit/verify")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_page_shows_a_cut_off_end(demo, browser, sa_engine):
    with sa_engine.connect() as connection:
        last_id = connection.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    with guards_off(sa_engine) as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.id == last_id))
    body = browser("admin").get("/audit/verify").get_data(as_text=True)
    assert f'<dd data-testid="broken-id">{last_id}</dd>' in body and 'data-reason="head"' in body
