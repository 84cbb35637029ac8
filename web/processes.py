"""Starting a process by hand: rectifications and other flows whose diagram names the
roles allowed to start them (``camunda:candidateStarterGroups``)."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine import InvalidTaskData
from forms import apply_engine_errors, build_form_class, form_data

from . import workflow_engine
from .authz import staff_required

bp = Blueprint("processes", __name__, url_prefix="/processes")


def startable_for_current_user():
    return workflow_engine().startable(r.value for r in current_user.roles)


@bp.get("/")
@staff_required
def index():
    """The processes this person may start."""
    return render_template("processes/index.html", startable=startable_for_current_user())


@bp.route("/<key>/start", methods=["GET", "POST"])
@staff_required
def start(key: str):
    """Fill in a process's start form and start it (422 with field errors)."""
    found = next(((view, form) for view, form in startable_for_current_user() if view.key == key), None)
    if found is None:
        abort(404)
    definition, start_form = found
    form = build_form_class(start_form, "StartForm")(request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("processes/start.html", definition=definition, form=form)
    if form.validate():
        engine = workflow_engine()
        business_key = f"{key}-{engine.clock.now():%Y%m%d}-{secrets.token_hex(3).upper()}"
        try:
            engine.start(key, form_data(form, start_form), business_key=business_key,
                         user=current_user.username)
        except InvalidTaskData as exc:
            apply_engine_errors(form, exc.errors)
        else:
            flash(_("Started %(key)s.", key=business_key), "success")
            return redirect(url_for("worklist.index")), 303
    return render_template("processes/start.html", definition=definition, form=form), 422
