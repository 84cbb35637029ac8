"""Database connections and schema upgrades.

SQLite is the embedded default; PostgreSQL is used when the URL says so. On SQLite every
writing unit of work starts with ``BEGIN IMMEDIATE``: writers queue for the database lock
up front instead of failing half-way with "database is locked" when a reader upgrades.

SQLite's write-ahead log is copied back into the database file by :func:`checkpoint_wal`,
called between requests and sweeps, not by the commit that happens to cross SQLite's
threshold (see there).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import audit_chain

log = logging.getLogger("propflow.db")
_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()
# Write transactions between two checkpoints of SQLite's write-ahead log. A completion
# writes about 40 pages, so this keeps the log near SQLite's own default of 1,000 pages.
CHECKPOINT_EVERY = 32
# SQLite's automatic checkpoint stays as a backstop for a process that never calls
# checkpoint_wal(): far above what the explicit checkpoints let the log reach.
AUTOCHECKPOINT_PAGES = 4_000
# Seconds a pooled server connection may sit idle and still be used without a test.
PING_AFTER_IDLE = 0.5
_IDLE_SINCE = "propflow.idle_since"
_idle_clock = time.monotonic  # seconds; tests move it
_PINGED: weakref.WeakSet[Engine] = weakref.WeakSet()
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return prepare_engine(create_engine(url, **kwargs))
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    prepare_engine(engine)
    return engine


def prepare_engine(engine: Engine, *, busy_timeout: float = 30.0,
                   ping_after_idle: float = PING_AFTER_IDLE) -> Engine:
    """Apply our connection settings to an engine made elsewhere (Flask-SQLAlchemy).
    ``busy_timeout``: seconds a SQLite writer waits for the lock before failing with
    "database is locked"; ``ping_after_idle``: see :func:`ping_idle_connections`."""
    if engine.dialect.name != "sqlite":
        return ping_idle_connections(engine, ping_after_idle)
    if engine not in _PREPARED:
        _configure_sqlite(engine, busy_timeout)
        _PREPARED.add(engine)
    return engine


def ping_idle_connections(engine: Engine, after: float = PING_AFTER_IDLE) -> Engine:
    """Test a pooled server connection before use if it has been idle ``after`` seconds or
    more, so that after the server restarted or was unreachable the next request works
    instead of failing on a dead connection; a failed test discards every pooled connection.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout: a round trip that cost about
    1.3 ms of a 10 ms completion on PostgreSQL (a request checks out two connections).
    Under load a connection comes back within milliseconds and is not tested again, as in
    HikariCP (its ``aliveBypassWindowMs``, 500 ms); one that died within that window fails
    its statement, which also discards the pool (SQLAlchemy's disconnect handling).
    """
    if engine.dialect.name == "sqlite" or engine in _PINGED:
        return engine
    _PINGED.add(engine)
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info[_IDLE_SINCE] = _idle_clock()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.get(_IDLE_SINCE)  # none: connected just now
        if idle_since is None or _idle_clock() - idle_since < after:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(f"a pooled connection was dead: {error}") from error
            raise

    return engine


class _WalCommits:
    """Transactions committed on one SQLite engine since its last checkpoint."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def due(self) -> bool:
        return self.count >= CHECKPOINT_EVERY


_WAL_COMMITS: weakref.WeakKeyDictionary[Engine, _WalCommits] = weakref.WeakKeyDictionary()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    commits = _WAL_COMMITS[engine] = _WalCommits()

    @event.listens_for(engine, "commit")
    def _on_commit(_connection):
        commits.count += 1  # a lost increment under threads only delays a checkpoint

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def checkpoint_due(engine: Engine) -> bool:
    """Whether :func:`checkpoint_wal` has work to do (cheap: a counter)."""
    commits = _WAL_COMMITS.get(engine)
    return commits is not None and commits.due()


def checkpoint_wal(engine: Engine, *, force: bool = False) -> bool:
    """Copy SQLite's write-ahead log back into the database file once ``CHECKPOINT_EVERY``
    transactions have committed (or at once with ``force``); PostgreSQL: nothing to do.
    Returns whether a checkpoint ran.

    Left to SQLite, the checkpoint runs inside the commit that crosses 1,000 pages, and
    under steady load it runs in nearly every commit: a reader always holds the log (the
    request's own session, another worker's), so the log is never restarted, stays over the
    threshold, and each commit copies its own pages and syncs the file (0.6 ms of a
    completion's 6). Called instead after a response has been sent and after each timer
    sweep, from a connection with no transaction open, it copies each page once per round
    and lets the next writer restart the log. A PASSIVE checkpoint never waits for readers
    or writers: what it cannot copy now is copied next time."""
    commits = _WAL_COMMITS.get(engine)
    if commits is None or not (force or commits.due()):
        return False
    with commits.lock:
        if not (force or commits.due()):
            return False  # another thread has just done it
        commits.count = 0
        try:
            connection = engine.raw_connection()
            try:
                connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except Exception:  # nothing is lost: the log stays and the next round copies it
            log.warning("checkpointing the SQLite write-ahead log failed; will retry", exc_info=True)
            return False
    return True


def session_factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(reading, writing) session factories; writers take the SQLite lock up front. Audit
    entries written through either are hash-chained (:mod:`engine.audit_chain`).

    A read sees one snapshot: a task, its candidates and its instance read in separate
    statements agree even while someone completes the task. SQLite's read transactions are
    snapshots already; PostgreSQL's READ COMMITTED would let each statement see the latest
    commit, so readers there use REPEATABLE READ (read-only: it never fails to serialise).
    """
    reading = engine.execution_options(isolation_level="REPEATABLE READ") \
        if engine.dialect.name == "postgresql" else engine
    reader = sessionmaker(reading, expire_on_commit=False)
    writer = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
    for factory in (reader, writer):
        audit_chain.register(factory)
    return reader, writer


def alembic_config(url: str):
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (Alembic), creating it if empty."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
