"""Extensions, created once and bound to the app in :func:`web.init_app`."""

from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

# One MetaData for the engine's tables and the web layer's, so one Alembic history
# covers the whole schema.
db = SQLAlchemy(metadata=Base.metadata)
