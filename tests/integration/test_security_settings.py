"""Security settings every response and account relies on: headers, session cookies,
password hashes, secrets from the environment, and CSRF on every form that changes
something. Each test fails if its protection is taken away."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from engine.models import AuditEvent
from web.extensions import db
from web.models import ServiceCase, User

# None of this depends on the database server: SQLite only.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def test_every_kind_of_response_carries_the_security_headers(demo, browser):
    person = browser("cs_zhang")
    responses = {
        "page": person.get("/tasks/"),
        "sign-in page": browser().get("/login"),
        "not found": person.get("/no-such-page"),
        "REST JSON": person.get("/engine-rest/version"),
        "static file": person.get("/static/app.css"),
    }
    for kind, response in responses.items():
        for header, value in HEADERS.items():
            assert response.headers.get(header) == value, (kind, header)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, kind
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, kind
        assert "camera=()" in response.headers["Permissions-Policy"], kind
        assert "Strict-Transport-Security" not in response.headers, kind  # plain HTTP here
    for kind in ("page", "not found", "REST JSON"):
        assert responses[kind].headers["Cache-Control"] == "no-store", kind
    assert "no-store" not in responses["static file"].headers.get("Cache-Control", "")


def test_over_https_cookies_are_secure_and_browsers_are_told_to_stay(database_url, clock, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("PROPFLOW_SECURE_COOKIES", "1")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "CLOCK": clock,
                      "UPLOAD_FOLDER": str(tmp_path / "uploads"), "SECRET_KEY": "test"})
    try:
        client = app.test_client()
        response = client.get("/login", base_url="https://propflow.example")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        cookie = response.headers["Set-Cookie"]  # the CSRF token's session
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        with app.app_context():
            db.engine.dispose()


def test_secrets_come_from_the_environment(database_url, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("PROPFLOW_SECRET_KEY", "from-the-environment")
    app = create_app({"DATABASE_URL": database_url, "CLOCK": clock,
                      "UPLOAD_FOLDER": str(tmp_path / "uploads")})
    try:
        assert app.config["SECRET_KEY"] == "from-the-environment"
    finally:
        with app.app_context():
            db.engine.dispose()


def test_passwords_are_stored_as_scrypt_hashes(app, demo):
    with app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("scrypt:") for h in hashes)
    assert not any("propflow-demo" in h for h in hashes)


def _form_routes(app) -> list[str]:
    """Every HTML route that accepts a state-changing method (the REST API checks its own)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/engine-rest") or not (rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<{argument}>", "1")
            for converter in ("int", "string", "path", "uuid"):
                url = url.replace(f"<{converter}:{argument}>", "1")
        routes.append(url)
    return sorted(set(routes))


def test_every_form_refuses_a_post_without_the_csrf_token(demo, browser, app):
    person = browser("mgr_wu")  # a manager reaches the most pages
    routes = _form_routes(app)
    assert len(routes) > 20  # the walk found the app's forms
    with app.app_context():
        before = (db.session.scalar(select(func.count()).select_from(AuditEvent)),
                  db.session.scalar(select(func.count()).select_from(ServiceCase)))
    for url in routes:
        response = person.client.post(url, data={"anything": "x"})
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
    with app.app_context():
        after = (db.session.scalar(select(func.count()).select_from(AuditEvent)),
                 db.session.scalar(select(func.count()).select_from(ServiceCase)))
    assert after == before  # nothing was done on any refused post


@pytest.mark.parametrize("header", ["X-CSRFToken", None])
def test_the_rest_api_takes_a_browser_session_only_with_the_csrf_header(demo, browser, header):
    person = browser("sup_zhao")
    person.get("/tasks/")
    headers = {header: person.token} if header else {}
    response = person.client.post("/engine-rest/message", json={"messageName": "nothing-waits"},
                                  headers=headers)
    assert response.status_code == (400 if header else 403)  # 400: no one waits for it
