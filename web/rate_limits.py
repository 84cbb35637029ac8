"""The sign-in rate limit's counters, kept in the application's database.

Flask-Limiter counts in memory by default, which under gunicorn means each web process
allows its own ten attempts a minute. This store (``RATELIMIT_STORAGE_URI =
"propflow-database://"``, the default) keeps the counters in the ``rate_limit_counter``
table instead, so every process and host counts the same attempts. Each hit is one atomic
upsert that also restarts an expired window; expired counters are deleted now and then.
"""

from __future__ import annotations

import hashlib
import time
from typing import ClassVar

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .models import RateLimitCounter

SCHEME = "propflow-database"
_TABLE = RateLimitCounter.__table__
PURGE_EVERY = 500  # hits per process between deletions of long-expired counters


class DatabaseStorage(Storage):
    """A `limits` storage over the app's SQLAlchemy engine (fixed windows only)."""

    STORAGE_SCHEME: ClassVar[list[str]] = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *,
                 engine: Engine, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._engine = engine
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(_TABLE).values(key=_stored(key), hits=amount, expires_at=now + expiry)
        expired = _TABLE.c.expires_at <= now
        statement = statement.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={"hits": _restart_if(expired, amount, _TABLE.c.hits + amount),
                  "expires_at": _restart_if(expired, now + expiry, _TABLE.c.expires_at)},
        ).returning(_TABLE.c.hits)
        with self._engine.begin() as connection:
            hits = connection.scalar(statement)
        self._hits += 1
        if self._hits % PURGE_EVERY == 0:  # addresses that tried once and never came back
            with self._engine.begin() as connection:
                connection.execute(delete(_TABLE).where(_TABLE.c.expires_at < now))
        return hits

    def get(self, key: str) -> int:
        with self._engine.connect() as connection:
            hits = connection.scalar(select(_TABLE.c.hits).where(
                _TABLE.c.key == _stored(key), _TABLE.c.expires_at > time.time()))
        return hits or 0

    def get_expiry(self, key: str) -> float:
        with self._engine.connect() as connection:
            expires_at = connection.scalar(select(_TABLE.c.expires_at).where(_TABLE.c.key == _stored(key)))
        return expires_at if expires_at is not None else time.time()

    def check(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.scalar(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._engine.begin() as connection:
            return connection.execute(delete(_TABLE)).rowcount

    def clear(self, key: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(_TABLE).where(_TABLE.c.key == _stored(key)))


def sign_in_key(address: str | None, username: str | None) -> str:
    """What sign-in attempts are counted by, on the form and the REST API alike: per address
    and per account, so one address cannot try many accounts fast and many addresses cannot
    hammer one account."""
    return f"{address}|{(username or '').strip().lower()}"


_KEY_LENGTH = _TABLE.c.key.type.length


def _stored(key: str) -> str:
    """The key as its column can hold it. A key carries the name someone typed to sign in,
    of any length and with any characters: one longer than the column, or with a NUL
    (which PostgreSQL cannot store or compare), is kept as its start and its hash."""
    if len(key) <= _KEY_LENGTH and "\x00" not in key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key.replace(chr(0), '')[:_KEY_LENGTH - len(digest) - 1]}#{digest}"


def _restart_if(expired, fresh, carried):
    return case((expired, fresh), else_=carried)
