"""Shared fixtures: a fresh, migrated database per test, on SQLite and (when a server is
given in PROPFLOW_TEST_PG_URL) on PostgreSQL; an engine with a clock the test moves."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine import ManualClock, WorkflowEngine, make_engine, upgrade_schema

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_URL = os.environ.get("PROPFLOW_TEST_PG_URL")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI must run the suite on PostgreSQL too: set PROPFLOW_TEST_PG_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Migrate once, copy per test: a fresh database costs a file copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_schema(f"sqlite:///{path}")
    return path


def _sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "propflow.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _postgres_url():
    """A schema of its own per test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    upgrade_schema(rendered)
    return rendered, admin, schema


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_demo_template(sqlite_template, tmp_path_factory) -> Path:
    """The demo data loaded once, on the clock every test starts from; a test that asks for
    the demo on SQLite starts from a copy (PostgreSQL tests load it themselves)."""
    from app import create_app
    from web.extensions import db

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copy(sqlite_template, path)
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "CLOCK": ManualClock(),
                      "UPLOAD_FOLDER": str(path.parent / "uploads"), "SECRET_KEY": "test"})
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()
    return path


@contextmanager
def scratch_database(backend: str, sqlite_template: Path, folder: Path) -> Iterator[str]:
    """A database of its own: a copy of ``sqlite_template`` in ``folder``, or a fresh schema on
    the PostgreSQL server, dropped afterwards."""
    if backend == "sqlite":
        yield _sqlite_url(sqlite_template, folder)
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (PROPFLOW_TEST_PG_URL); `make test-pg` runs it")
    url, admin, schema = _postgres_url()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, sqlite_template, tmp_path):
    template = sqlite_template
    if request.param == "sqlite":
        demo = "demo" in request.fixturenames
        template = request.getfixturevalue("sqlite_demo_template") if demo else sqlite_template
        request.node.demo_preloaded = demo
    with scratch_database(request.param, template, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    """For tests about things that do not depend on the database server."""
    return _sqlite_url(sqlite_template, tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sa_engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(sa_engine, clock) -> WorkflowEngine:
    return WorkflowEngine(sa_engine, clock)


# The web layer's steps that only write facts (web/quality.py). Engine tests run the diagrams
# without the web layer; tests/integration checks the rows the real steps write.
FACT_STEPS = {topic: (lambda call: {}) for topic in (
    "propflow.rectification.record", "propflow.spot_check.record")}


def read_files(*names: str, folder: Path = BPMN_DIR) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


SERVICE_REQUEST_FILES = ("service_request.bpmn", "priority_proposal.dmn", "service_level.dmn")


@pytest.fixture
def service_request(engine):
    """The engine with the service-request process deployed."""
    engine.deploy(read_files(*SERVICE_REQUEST_FILES), name="service request")
    return engine
