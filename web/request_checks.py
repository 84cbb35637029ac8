"""Request text that no field can hold, refused before any view reads it.

Nobody types a NUL character, and PostgreSQL can neither store one nor compare with one:
a path, query parameter, form field or Basic user name holding one would end as a database
error (a 500) wherever the value reaches SQL. It is refused once, here, with a 400 — an
HTML page for people, Camunda's InvalidRequestException under ``/engine-rest``.
"""

from __future__ import annotations

from flask import Flask, abort, request
from flask_babel import gettext as _


def _holds_nul() -> bool:
    auth = request.authorization
    texts = [request.path, *(auth.parameters.values() if auth is not None else ()),
             *(part for pair in request.args.items(multi=True) for part in pair)]
    if request.method not in ("GET", "HEAD"):
        texts += [part for pair in request.form.items(multi=True) for part in pair]
        texts += [storage.filename or "" for _, storage in request.files.items(multi=True)]
    return any("\x00" in text for text in texts)


def register(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters():
        """:raise 400: a NUL character anywhere a view could read text from."""
        if _holds_nul():
            abort(400, description=_("The request holds a NUL character, which no field accepts."))
