"""The engine as a whole: which Camunda version Propflow answers as, its one engine, and
Camunda's 404 for any path it does not serve."""

from __future__ import annotations

from flask import jsonify

from . import bp
from .errors import not_found

# The Camunda Platform 7 REST API this subset follows (fields, errors, formats).
CAMUNDA_VERSION = "7.20.0"


@bp.get("/version")
def version():
    """``{"version": "7.20.0"}``: the Camunda release whose REST API Propflow emulates."""
    return jsonify({"version": CAMUNDA_VERSION})


@bp.get("/engine")
def engines():
    return jsonify([{"name": "default"}])


@bp.route("/<path:anything>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(anything: str):
    raise not_found(f"Propflow does not serve /engine-rest/{anything}", "RestException")
