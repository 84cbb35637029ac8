"""Extensions, created once and bound to the app in :func:`web.init_app`."""

from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

db = SQLAlchemy(model_class=Base)
