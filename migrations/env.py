"""Alembic environment: migrations run online against the configured URL."""

from alembic import context
from sqlalchemy import pool

import web.models  # noqa: F401  (registers the web layer's tables on the shared metadata)
from engine.db import make_engine
from engine.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    if connection.dialect.name == "sqlite":
        # Table rebuilds (SQLite's way to alter) drop the old table: with foreign keys on,
        # that would cascade-delete the rows referring to it. Off for the migration only,
        # on the driver connection directly: outside any transaction, where SQLite obeys it.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
