"""Deploying new versions from the browser (I-1): a process owner uploads diagrams and
decision tables, sees every problem with its element, or what would change against the
live version, and then deploys. Running cases stay on their version."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine import InvalidDiagram

from . import workflow_engine
from .authz import roles_required
from .models import Role

bp = Blueprint("deploy", __name__, url_prefix="/deploy")
DEPLOYERS = (Role.PROCESS_OWNER, Role.ADMIN)
SUFFIXES = (".bpmn", ".dmn", ".bpmn20.xml", ".dmn11.xml")
MAX_FILES = 20
MAX_FILE_BYTES = 2 * 1024 * 1024  # per file; the app setting DEPLOY_MAX_FILE_BYTES overrides it


class UploadProblem(Exception):
    status = 422


class UploadTooLarge(UploadProblem):
    status = 413  # as for a request over the whole request's limit


@bp.get("/")
@roles_required(*DEPLOYERS)
def index():
    return render_template("deploy/index.html", recent=workflow_engine().definitions(latest_only=True))


def _uploaded() -> dict[str, bytes]:
    limit = current_app.config.get("DEPLOY_MAX_FILE_BYTES", MAX_FILE_BYTES)
    files: dict[str, bytes] = {}
    for storage in request.files.getlist("files"):
        if not storage.filename:
            continue
        name = storage.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith(SUFFIXES):
            raise UploadProblem(_("%(name)s is not a BPMN or DMN file (.bpmn, .dmn).", name=name))
        try:
            content = storage.read(limit + 1)
        finally:
            storage.close()  # a large part is spooled to a temporary file: close it now
        if len(content) > limit:
            raise UploadTooLarge(_("%(name)s is larger than %(kb)d KB.", name=name, kb=limit // 1024))
        files[name] = content
    if not files:
        raise UploadProblem(_("Choose at least one .bpmn or .dmn file."))
    if len(files) > MAX_FILES:
        raise UploadProblem(_("At most %(n)d files at once.", n=MAX_FILES))
    return files


def _carried() -> dict[str, bytes]:
    """The files the preview page carries to the confirmation, as it showed them."""
    names, contents = request.form.getlist("file_name"), request.form.getlist("file_content")
    if not names or len(names) != len(contents) or len(names) > MAX_FILES:
        abort(400)
    try:
        return {name: base64.b64decode(content, validate=True)
                for name, content in zip(names, contents, strict=True)}
    except (binascii.Error, ValueError):
        abort(400)


@bp.post("/check")
@roles_required(*DEPLOYERS)
def check():
    """Validate and compare, storing nothing (422 when the files would be refused)."""
    name = request.form.get("name", "").strip()[:200]
    try:
        files = _uploaded()
    except UploadProblem as problem:
        return render_template("deploy/index.html", recent=workflow_engine().definitions(latest_only=True),
                               problem=str(problem), name=name), problem.status
    preview = workflow_engine().preview_deployment(files)
    carried = [(n, base64.b64encode(c).decode()) for n, c in files.items()]
    status = 200 if preview.deployable else 422
    changed = [p for p in preview.processes if not p.unchanged]
    return render_template("deploy/preview.html", preview=preview, carried=carried,
                           name=name or ", ".join(files), changed=changed), status


@bp.post("/confirm")
@roles_required(*DEPLOYERS)
def confirm():
    files = _carried()
    name = request.form.get("name", "").strip()[:200] or ", ".join(files)
    try:
        deployment = workflow_engine().deploy(files, name=name, source="Propflow web",
                                              deployed_by=current_user.username, changed_only=True)
    except InvalidDiagram as refused:
        preview = workflow_engine().preview_deployment(files)
        return render_template("deploy/preview.html", preview=preview, carried=[], name=name, changed=[],
                               refused=refused), 422
    if deployment.duplicate or not deployment.definitions:
        flash(_("Nothing deployed: every process is the same as its live version."), "success")
        return redirect(url_for("deploy.index")), 303
    for definition in deployment.definitions:
        flash(_("Deployed %(name)s as version %(v)d.", name=definition.name, v=definition.version), "success")
    return redirect(url_for("reviews.process", definition_id=deployment.definitions[0].id)), 303
