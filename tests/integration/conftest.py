import pytest

from app import create_app
from engine import upgrade_schema


@pytest.fixture
def app(database_url, clock):
    upgrade_schema(database_url)
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "CLOCK": clock})
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
