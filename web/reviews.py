"""Compliance review (A-1, A-2, P-2, P-3): every deployed version on its diagram with its
documentation and where the cases are; every case on its diagram with its whole history;
a search over all cases; and a case's dossier for the archive. Read-only."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from engine import InstanceStatus, queries

from . import authz, case_search, dossier, trail, workflow_engine
from .authz import roles_required
from .extensions import db
from .i18n import company_zone
from .models import Attachment, Role
from .query_forms import QueryForm

bp = Blueprint("reviews", __name__, url_prefix="/review")
REVIEWERS = (Role.QUALITY_REVIEWER, Role.PROCESS_OWNER, Role.MANAGER, Role.ADMIN, Role.SERVICE_SUPERVISOR)
PAGE_SIZE = 25
_AUTOMATIC = _l("Automatic step")
KIND_LABELS = {
    "userTask": _l("User task"), "manualTask": _l("User task"), "serviceTask": _AUTOMATIC,
    "scriptTask": _AUTOMATIC, "sendTask": _AUTOMATIC, "task": _AUTOMATIC,
    "businessRuleTask": _l("Decision table"), "startEvent": _l("Start"), "endEvent": _l("End"),
    "boundaryEvent": _l("Timer or event on an activity"), "intermediateCatchEvent": _l("Wait"),
    "intermediateThrowEvent": _l("Event"), "exclusiveGateway": _l("Decision"),
    "inclusiveGateway": _l("Decision"), "parallelGateway": _l("Parallel"),
    "eventBasedGateway": _l("Wait for the first event"), "subProcess": _l("Subprocess"),
    "callActivity": _l("Call activity"),
}



def _diagram_data(definition_id: str, drawn: dict) -> dict:
    return {"diagram": url_for("reviews.diagram", definition_id=definition_id),
            "failed": _("The diagram could not be drawn:"), **drawn}


@bp.get("/")
@roles_required(*REVIEWERS)
def index():
    return redirect(url_for("reviews.cases"))


@bp.get("/processes")
@roles_required(*REVIEWERS)
def processes():
    """Every deployed version of every process, with its cases by status."""
    return render_template("review/processes.html", definitions=workflow_engine().definitions(),
                           counts=queries.instance_counts(db.session))


@bp.get("/processes/<definition_id>")
@roles_required(*REVIEWERS)
def process(definition_id: str):
    """One version: diagram with counts per element, documentation, elements.

    :raise 404: no such version.
    """
    overview = trail.process_overview(workflow_engine(), db.session, definition_id)
    return render_template("review/process.html", overview=overview, kinds=KIND_LABELS,
                           data=_diagram_data(definition_id, overview.diagram_data()))


@bp.get("/processes/<definition_id>/diagram.bpmn")
@roles_required(*REVIEWERS)
def diagram(definition_id: str):
    """The BPMN file this version was deployed from, as deployed.

    :raise 404: no such version.
    """
    name, content = workflow_engine().definition_resource(definition_id)
    return Response(content, mimetype="application/xml", headers={
        "Content-Disposition": f'inline; filename="{dossier.safe_name(name, "diagram.bpmn")}"',
        "Cache-Control": "private, max-age=0"})


class SearchForm(QueryForm):

    key = StringField(_l("Business key"), validators=[Optional(), Length(max=255)])
    match = SelectField(_l("Match"), choices=[SelectChoice("prefix", _l("Begins with")),
                                              SelectChoice("exact", _l("Exactly"))],
                        default="prefix", validators=[Optional()])
    owner = StringField(_l("Owner"), validators=[Optional(), Length(max=64)])
    status = SelectField(_l("Status"), validators=[Optional()])
    process_key = SelectField(_l("Process"), validators=[Optional()])
    first = DateField(_l("Started from"), validators=[Optional()])
    last = DateField(_l("Started until"), validators=[Optional()])
    breached = BooleanField(_l("Missed a deadline"))


def _search_form() -> SearchForm:
    form = SearchForm(request.args)
    everything = [SelectChoice("", _("All"))]
    form.status.choices = everything + [
        SelectChoice(status.value, str(label)) for status, label in trail.STATUS_LABELS.items()]
    form.process_key.choices = everything + [
        SelectChoice(d.key, d.name) for d in workflow_engine().definitions(latest_only=True)]
    return form


@bp.get("/cases")
@roles_required(*REVIEWERS)
def cases():
    """Search every case; newest first, a page at a time (422 on bad filters)."""
    form = _search_form()
    if not form.validate():
        return render_template("review/cases.html", form=form, found=None), 422
    page = max(request.args.get("page", 1, type=int), 1)
    query = case_search.CaseQuery(
        key=(form.key.data or "").strip() or None, exact=form.match.data == "exact",
        owner=(form.owner.data or "").strip() or None,
        status=InstanceStatus(form.status.data) if form.status.data else None,
        process=form.process_key.data or None, first=form.first.data, last=form.last.data,
        breached=form.breached.data, zone=company_zone())
    found, has_next = case_search.search(db.session, query, page=page, per_page=PAGE_SIZE,
                                         confidential=authz.personnel_scope(current_user))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("review/cases.html", form=form, found=found, page=page, has_next=has_next,
                           args=args, status_labels=trail.STATUS_LABELS)


def _attachments(instance_id: str) -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).where(Attachment.instance_id == instance_id)
                                   .order_by(Attachment.uploaded_at, Attachment.filename)))


def _trail(instance_id: str, now) -> trail.CaseTrail:
    """The case's trail. :raise 404: no such case, or a personnel record the reviewer may not see."""
    found = trail.case_trail(workflow_engine(), db.session, instance_id, now)
    if not authz.may_see_instance(current_user, found.instance.process_key, found.instance.variables):
        abort(404)
    return found


@bp.get("/cases/<instance_id>")
@roles_required(*REVIEWERS)
def case(instance_id: str):
    """One case on its diagram, what it waits for, and its whole history.

    :raise 404: no such case.
    """
    found = _trail(instance_id, workflow_engine().clock.now())
    return render_template("review/case.html", trail=found, attachments=_attachments(instance_id),
                           status_labels=trail.STATUS_LABELS, deadline_labels=trail.DEADLINE_LABELS,
                           data=_diagram_data(found.instance.definition_id, found.diagram_data()))


@bp.get("/cases/<instance_id>/dossier.zip")
@roles_required(*REVIEWERS)
def case_dossier(instance_id: str):
    """The case's dossier as a ZIP for the archive.

    :raise 404: no such case.
    """
    name, content = dossier_file(instance_id, workflow_engine().clock.now())
    return Response(content, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def dossier_file(instance_id: str, now) -> tuple[str, bytes]:
    """A case's dossier, made for the signed-in user: its file name and the ZIP (the
    archive bundles these too).

    :raise 404: no such case, or a personnel record the user may not see.
    """
    engine = workflow_engine()
    found = _trail(instance_id, now)
    return dossier.build(
        found, elements=queries.definition_elements(db.session, found.instance.definition_id),
        bpmn=engine.definition_resource(found.instance.definition_id)[1],
        attachments=_attachments(instance_id), generated_by=current_user.username, generated_at=now)
