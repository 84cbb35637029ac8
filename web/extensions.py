"""Extensions, created once and bound to the app in :func:`web.init_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from engine.models import Base

# One MetaData for the engine's tables and the web layer's, so one Alembic history
# covers the whole schema.
db = SQLAlchemy(metadata=Base.metadata)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
