import re

import pytest

from app import create_app
from engine import upgrade_schema
from web.demo import DEMO_PASSWORD

_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def app(database_url, clock, tmp_path):
    upgrade_schema(database_url)
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "CLOCK": clock,
                      "UPLOAD_FOLDER": str(tmp_path / "uploads"), "SECRET_KEY": "test"})
    yield app
    from web.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def demo(request, runner):
    """The demo data: on SQLite the database was copied with it (``sqlite_demo_template``)."""
    if getattr(request.node, "demo_preloaded", False):
        return
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output


class Browser:
    """A person at a browser: signs in, follows pages, and posts forms with the CSRF
    token the page gave them — never around it."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        response.get_data()  # read whole, then release files sent from disk
        response.close()
        if response.mimetype == "text/html":
            match = _CSRF.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1)
        return response

    def post(self, url, data=None, *, page=None, **kwargs):
        if self.token is None or page:
            self.get(page or url)
        return self.client.post(url, data={**(data or {}), "csrf_token": self.token}, **kwargs)

    def login(self, username, password=DEMO_PASSWORD):
        self.get("/login")
        response = self.client.post("/login", data={
            "username": username, "password": password, "csrf_token": self.token})
        self.get("/")
        return response


@pytest.fixture
def browser(app):
    def make(username=None):
        person = Browser(app)
        if username:
            assert person.login(username).status_code == 302
        return person

    return make
