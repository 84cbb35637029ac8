"""A subset of the Camunda Platform 7 REST API (7.20) under ``/engine-rest``, so Camunda
Modeler deploys here unchanged and Camunda 7 clients and scripts work against Propflow.

One module per resource: ``deployments``, ``definitions``, ``instances``, ``tasks``,
``history``, ``root`` (version); ``auth`` (who is calling, who may do what), ``errors`` (Camunda's error
shapes), ``params`` (paging, sorting, query values) and ``variables`` (typed variables)
serve them all. The blueprint is exempt from CSRF because API clients authenticate with
HTTP Basic; browser sessions are checked in :mod:`.auth`.
"""

from __future__ import annotations

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("rest", __name__, url_prefix="/engine-rest")
csrf.exempt(bp)

# The modules register their routes on ``bp``: import them after it exists.
from . import auth, definitions, deployments, errors, external, history, instances, root, tasks  # noqa: E402

errors.register(bp)

__all__ = ["auth", "bp", "definitions", "deployments", "external", "history", "instances", "root", "tasks"]
