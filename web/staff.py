"""Staff records (E-1, E-2, E-3, D-1): a person's profile — roles, skills, appraisal history,
rewards and penalties, training — the staff list, the appraisal pages managers and
supervisors use, and the register of rewards and penalties. Read-only: the appraisal and
training diagrams write these records.

Whose records someone sees is :func:`web.authz.may_see_staff_record`, on every page here.
Owners get 403 on every page, whatever the username, so they cannot learn who exists.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import and_, func, select
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from engine import InstanceNotFound, TaskView
from engine.models import ProcessInstance

from . import (
    authz,
    corrections,
    reviews,
    service_requests,
    spreadsheet_csv,
    training_records,
    workflow_engine,
)
from .admin import ROLE_LABELS
from .authz import roles_required, staff_required
from .extensions import db
from .i18n import company_zone
from .models import STAFF_ROLES, Appraisal, Role, Sanction, TrainingNeed, User, UserRole
from .query_forms import QueryForm

bp = Blueprint("staff", __name__)
PAGE_SIZE = 100
# Whose records the staff list shows: people, not external workers' accounts.
LISTED_ROLES = tuple(sorted(r.value for r in STAFF_ROLES - {Role.INTEGRATION}))
LEADS = (Role.MANAGER, Role.SERVICE_SUPERVISOR)

STATUS_LABELS = {"reviewing": _l("Being reviewed"), "acknowledging": _l("Waiting for acknowledgement"),
                 "approving": _l("Waiting for approval"), "approved": _l("Approved")}
PROPOSAL_LABELS = {"reward": _l("Reward"), "penalty": _l("Penalty"), "none": _l("No reward or penalty")}
KIND_LABELS = {"reward": _l("Reward"), "penalty": _l("Penalty")}
MEASURE_LABELS = {"commendation": _l("Commendation"), "bonus": _l("Bonus"), "warning": _l("Warning"),
                  "demerit": _l("Demerit")}
NEED_SOURCE_LABELS = {"appraisal": _l("Appraisal"), "spot_check": _l("Spot check"), "manager": _l("Manager")}


@dataclass(frozen=True)
class Fact:
    """One figure of an appraisal: its name, what it counts, and how it reads off the row."""

    label: str
    meaning: str
    read: Callable[[Appraisal], str]


def _average(row: Appraisal) -> str:
    if row.average_score is None:
        return _("no ratings")
    return _("%(avg).2f from %(n)d ratings", avg=row.average_score, n=row.scores)


FACTS = (
    Fact(_l("Tasks completed"), _l("Tasks this person completed in the period (steps of appraisals and "
                                   "training not counted)."),
         lambda r: str(r.tasks_completed)),
    Fact(_l("Deadlines met"), _l("Of the deadlines that were theirs and fell due in the period — handling of "
                                 "requests dispatched to them, response to requests they registered, "
                                 "rectifications they were responsible for — how many were met."),
         lambda r: _("%(met)d of %(due)d", met=r.deadlines_met, due=r.deadlines_due)),
    Fact(_l("Owners' scores"), _l("Owners' ratings (1–5) of the requests dispatched to them, recorded in "
                                  "the period: the average, and how many."), _average),
    Fact(_l("Spot checks failed"), _l("Spot-check inspections of their work in the period that failed, "
                                      "of all inspected."),
         lambda r: _("%(failed)d of %(n)d", failed=r.inspections_failed, n=r.inspections)),
    Fact(_l("Rectifications"), _l("Rectifications they were made responsible for, started in the period."),
         lambda r: str(r.rectifications)),
    Fact(_l("Rectifications overdue"), _l("Rectifications of theirs whose deadline passed in the period "
                                          "before they were verified."),
         lambda r: str(r.rectifications_overdue)),
    Fact(_l("Complaints"), _l("Owners' complaints received in the period about requests dispatched to them."),
         lambda r: str(r.complaints)),
)


def period_label(row: Appraisal) -> str:
    """"2026-05" for a calendar month, else "first – last"."""
    first, last = row.period_start, row.period_end
    if first.day == 1 and (last + timedelta(days=1)).day == 1 and (first.year, first.month) == (
            last.year, last.month):
        return f"{first:%Y-%m}"
    return f"{first.isoformat()} – {last.isoformat()}"


# --- reading the records ----------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """One line of evidence, linked to the record it names when the viewer may open it."""

    text: str
    url: str | None = None


@dataclass(frozen=True)
class SanctionLine:
    row: Sanction
    evidence: tuple[Evidence, ...]
    appraisal_key: str | None
    name: str | None = None  # the person's display name, in the register


@dataclass(frozen=True)
class Profile:
    user: User
    appraisals: tuple[Appraisal, ...]
    sanctions: tuple[SanctionLine, ...]
    training: training_records.TrainingHistory


class _Links:
    """Where a business key leads, for one viewer: the case, feedback or appraisal page they
    may open, else the review page when they review cases, else nowhere."""

    def __init__(self, viewer: User):
        self.viewer = viewer
        self._found: dict[str, str | None] = {}

    def evidence(self, text: str | None) -> tuple[Evidence, ...]:
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        return tuple(Evidence(line, self.url(line.split()[0])) for line in lines)

    def url(self, key: str) -> str | None:
        if key not in self._found:
            self._found[key] = self._url(key)
        return self._found[key]

    def _url(self, key: str) -> str | None:
        found = db.session.execute(select(ProcessInstance.id, ProcessInstance.process_key)
                                   .where(ProcessInstance.business_key == key).limit(2)).all()
        if len(found) != 1:
            return None
        instance_id, process_key = found[0]
        try:
            instance = workflow_engine().instance(instance_id)
        except InstanceNotFound:
            return None
        if not authz.may_see_instance(self.viewer, process_key, instance.variables):
            return None
        pages = {service_requests.PROCESS: "cases.detail", "feedback": "feedback.detail"}
        if process_key in pages and authz.may_see_case(self.viewer, instance.variables.get("owner_id"),
                                                       instance.open_tasks):
            return url_for(pages[process_key], instance_id=instance_id)
        if process_key == "appraisal":
            return url_for("staff.appraisal", instance_id=instance_id)
        if self.viewer.has_role(*reviews.REVIEWERS):
            return url_for("reviews.case", instance_id=instance_id)
        return None


def _sanction_lines(rows: Iterable[Sanction], links: _Links, names: dict[str, str] | None = None
                    ) -> tuple[SanctionLine, ...]:
    rows = list(rows)
    keys = dict(db.session.execute(select(Appraisal.instance_id, Appraisal.business_key).where(
        Appraisal.instance_id.in_([r.appraisal_id for r in rows if r.appraisal_id]))).all()) if rows else {}
    return tuple(SanctionLine(r, links.evidence(r.evidence), keys.get(r.appraisal_id),
                              (names or {}).get(r.username)) for r in rows)


def profile(viewer: User, subject: User) -> Profile:
    """Everything on ``subject``'s profile page as ``viewer`` sees it (the caller checked
    that they may)."""
    appraisals = db.session.scalars(select(Appraisal).where(Appraisal.username == subject.username)
                                    .order_by(Appraisal.period_start.desc())).all()
    sanctions = db.session.scalars(select(Sanction).where(Sanction.username == subject.username)
                                   .order_by(Sanction.recorded_at.desc(), Sanction.id.desc())).all()
    return Profile(subject, tuple(appraisals), _sanction_lines(sanctions, _Links(viewer)),
                   training_records.history(db.session, subject.username))


def _user(username: str | None) -> User | None:
    if not username:
        return None
    return db.session.scalar(select(User).where(User.username == username))


def _visible_subject(username: str) -> User:
    """The staff member, if the signed-in person may see their records.

    :raise 404: no such staff member. :raise 403: someone else's records they may not see.
    """
    subject = _user(username)
    if subject is None or not subject.is_staff:
        abort(404)
    if not authz.may_see_staff_record(current_user, subject):
        abort(403)
    return subject


@dataclass(frozen=True)
class StaffLine:
    user: User
    latest: Appraisal | None
    open_needs: int


def staff_lines(viewer: User, *, role: str | None = None, inactive: bool = False) -> list[StaffLine]:
    """The people whose records ``viewer`` may see (everyone's for managers, the supervised
    for supervisors), with their latest appraisal and how many training needs are open."""
    allowed = authz.visible_staff(viewer)
    query = select(User).where(User.role_rows.any(UserRole.role.in_([role] if role else LISTED_ROLES)))
    if allowed is not None:
        query = query.where(User.username.in_(sorted(allowed)))
    if not inactive:
        query = query.where(User.active.is_(True))
    people = db.session.scalars(query.order_by(User.username)).all()
    names = [p.username for p in people]
    newest = (select(Appraisal.username, func.max(Appraisal.period_start).label("first"))
              .where(Appraisal.username.in_(names)).group_by(Appraisal.username).subquery())
    latest = {row.username: row for row in db.session.scalars(select(Appraisal).join(newest, and_(
        Appraisal.username == newest.c.username, Appraisal.period_start == newest.c.first)))}
    needs = dict(db.session.execute(
        select(TrainingNeed.username, func.count()).where(TrainingNeed.username.in_(names),
                                                          TrainingNeed.completed_at.is_(None))
        .group_by(TrainingNeed.username)).all())
    return [StaffLine(p, latest.get(p.username), needs.get(p.username, 0)) for p in people]


# --- views: people ---------------------------------------------------------------------------

class StaffFilter(QueryForm):

    role = SelectField(_l("Role"), validators=[Optional()])
    inactive = BooleanField(_l("Show deactivated accounts"))


@bp.get("/staff")
@roles_required(*LEADS)
def index():
    """Managers: every staff member; supervisors: those they supervise (and themselves).
    422 on a bad filter."""
    form = StaffFilter(request.args)
    form.role.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(r, str(ROLE_LABELS[Role(r)])) for r in LISTED_ROLES]
    if not form.validate():
        return render_template("staff/index.html", form=form, lines=None, **_labels()), 422
    lines = staff_lines(current_user, role=form.role.data or None, inactive=form.inactive.data)
    return render_template("staff/index.html", form=form, lines=lines, **_labels())


@bp.get("/staff/me")
@staff_required
def me():
    return redirect(url_for("staff.person", username=current_user.username))


@bp.get("/staff/<username>")
@staff_required
def person(username: str):
    """A staff member's profile: roles, skills, appraisals, rewards and penalties, training.

    :raise 404: no such staff member. :raise 403: not theirs to see (owners: always).
    """
    found = profile(current_user, _visible_subject(username))
    today = workflow_engine().clock.now().astimezone(company_zone()).date()
    return render_template("staff/profile.html", profile=found, today=today, **_labels())


def _labels() -> dict:
    return {"statuses": STATUS_LABELS, "proposals": PROPOSAL_LABELS, "kinds": KIND_LABELS,
            "measures": MEASURE_LABELS, "sources": NEED_SOURCE_LABELS, "facts": FACTS,
            "period_label": period_label, "skill_labels": service_requests.SERVICE_TYPES}



# --- views: appraisals -----------------------------------------------------------------------

class AppraisalFilter(QueryForm):

    period = SelectField(_l("Period"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    proposal = SelectField(_l("Proposal"), validators=[Optional()])
    person = StringField(_l("Username"), validators=[Optional(), Length(max=64)])


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice("", _("All"))] + [SelectChoice(k, str(v)) for k, v in labels.items()]


def _appraisal_filter(allowed: frozenset[str] | None) -> AppraisalFilter:
    form = AppraisalFilter(request.args)
    query = select(Appraisal.period_start).distinct().order_by(Appraisal.period_start.desc())
    if allowed is not None:
        query = query.where(Appraisal.username.in_(sorted(allowed)))
    form.period.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(p.isoformat(), p.isoformat()) for p in db.session.scalars(query)]
    form.status.choices = _choices(STATUS_LABELS)
    form.proposal.choices = _choices(PROPOSAL_LABELS)
    return form


@dataclass(frozen=True)
class AppraisalLine:
    row: Appraisal
    name: str
    sanctions: tuple[Sanction, ...]


def appraisal_lines(form: AppraisalFilter, allowed: frozenset[str] | None, page: int
                    ) -> tuple[list[AppraisalLine], bool]:
    """One page of appraisals matching the filter among ``allowed`` people's (all: None),
    newest period first, then by username."""
    query = select(Appraisal, User.display_name).outerjoin(User, User.username == Appraisal.username)
    if allowed is not None:
        query = query.where(Appraisal.username.in_(sorted(allowed)))
    if form.period.data:
        query = query.where(Appraisal.period_start == date.fromisoformat(form.period.data))
    for value, column in ((form.status.data, Appraisal.status), (form.proposal.data, Appraisal.proposal),
                          ((form.person.data or "").strip(), Appraisal.username)):
        if value:
            query = query.where(column == value)
    rows = db.session.execute(query.order_by(Appraisal.period_start.desc(), Appraisal.username)
                              .limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    shown = rows[:PAGE_SIZE]
    sanctions: dict[str, list[Sanction]] = {}
    if shown:
        for s in db.session.scalars(select(Sanction).where(
                Sanction.appraisal_id.in_([r.instance_id for r, _name in shown])).order_by(Sanction.id)):
            sanctions.setdefault(s.appraisal_id, []).append(s)
    return ([AppraisalLine(r, name or r.username, tuple(sanctions.get(r.instance_id, ())))
             for r, name in shown], len(rows) > PAGE_SIZE)


@bp.get("/appraisals")
@roles_required(*LEADS)
def appraisals():
    """Appraisals by period with each person's status, score, proposal and reward or penalty:
    managers see everyone's, supervisors those they may see (422 on bad filters)."""
    allowed = authz.visible_staff(current_user)
    form = _appraisal_filter(allowed)
    if not form.validate():
        return render_template("staff/appraisals.html", form=form, periods=None, **_labels()), 422
    page = max(request.args.get("page", 1, type=int), 1)
    lines, has_next = appraisal_lines(form, allowed, page)
    periods = [(first, list(group)) for first, group in
               itertools.groupby(lines, key=lambda line: line.row.period_start)]
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("staff/appraisals.html", form=form, periods=periods, page=page,
                           has_next=has_next, args=args, **_labels())


@bp.get("/appraisals/<instance_id>")
@staff_required
def appraisal(instance_id: str):
    """One appraisal's whole record: facts and what they mean, the review, acknowledgement,
    approval, the rules' proposal, the reward or penalty recorded, and the step open now.

    :raise 404: no such appraisal, or one the signed-in person may not see.
    """
    row = db.session.get(Appraisal, instance_id)
    if row is None or not authz.may_see_staff_record(current_user, _user(row.username)):
        abort(404)
    instance = workflow_engine().instance(instance_id)
    if not authz.may_see_instance(current_user, instance.process_key, instance.variables):
        abort(404)
    links = _Links(current_user)
    sanctions = db.session.scalars(select(Sanction).where(Sanction.appraisal_id == instance_id)
                                   .order_by(Sanction.id)).all()
    lines = instance.variables.get("evidence_lines")
    panels = [corrections.panel_for(db.session, current_user, "appraisal", row.instance_id),
              *(corrections.panel_for(db.session, current_user, "sanction", str(s.id)) for s in sanctions)]
    return render_template(
        "staff/appraisal.html", row=row, subject=_user(row.username), instance=instance,
        evidence=links.evidence(lines if isinstance(lines, str) else None),
        sanctions=_sanction_lines(sanctions, links), corrections=panels,
        open_tasks=[(t, _task_link(t)) for t in instance.open_tasks], **_labels())


def _task_link(task: TaskView) -> str | None:
    if authz.may_work_on(current_user, task) or authz.may_reassign(current_user):
        return url_for("worklist.task", task_id=task.id)
    return None


# --- views: rewards and penalties ------------------------------------------------------------

class SanctionFilter(QueryForm):

    first = DateField(_l("Recorded from"), validators=[Optional()])
    last = DateField(_l("Recorded until"), validators=[Optional()])
    kind = SelectField(_l("Kind"), validators=[Optional()])
    measure = SelectField(_l("Measure"), validators=[Optional()])
    person = StringField(_l("Username"), validators=[Optional(), Length(max=64)])


def _sanction_filter() -> SanctionFilter:
    form = SanctionFilter(request.args)
    form.kind.choices = _choices(KIND_LABELS)
    form.measure.choices = _choices(MEASURE_LABELS)
    return form


def sanction_lines(form: SanctionFilter) -> tuple[SanctionLine, ...]:
    """Every recorded reward and penalty matching the filter, newest first (days in the
    company's time zone)."""
    zone = company_zone()
    query = select(Sanction)
    if form.first.data:
        query = query.where(Sanction.recorded_at >= datetime.combine(form.first.data, time(), zone))
    if form.last.data:
        query = query.where(Sanction.recorded_at < datetime.combine(form.last.data + timedelta(days=1),
                                                                    time(), zone))
    for value, column in ((form.kind.data, Sanction.kind), (form.measure.data, Sanction.measure),
                          ((form.person.data or "").strip(), Sanction.username)):
        if value:
            query = query.where(column == value)
    rows = db.session.scalars(query.order_by(Sanction.recorded_at.desc(), Sanction.id.desc())).all()
    names = dict(db.session.execute(select(User.username, User.display_name).where(
        User.username.in_({r.username for r in rows}))).all()) if rows else {}
    return _sanction_lines(rows, _Links(current_user), names)


@bp.get("/appraisals/sanctions")
@roles_required(Role.MANAGER)
def sanctions():
    """The register of rewards and penalties (E-2), for managers (422 on bad filters)."""
    form = _sanction_filter()
    if not form.validate():
        return render_template("staff/sanctions.html", form=form, lines=None, **_labels()), 422
    args = {k: v for k, v in request.args.items() if v}
    return render_template("staff/sanctions.html", form=form, lines=sanction_lines(form), args=args,
                           **_labels())


@bp.get("/appraisals/sanctions.csv")
@roles_required(Role.MANAGER)
def sanctions_csv():
    """The register as CSV (UTF-8 with a BOM, for spreadsheets); 422 on bad filters."""
    form = _sanction_filter()
    if not form.validate():
        abort(422)
    zone = company_zone()
    out = io.StringIO()
    writer = spreadsheet_csv.Writer(out)
    writer.writerow([_("Recorded at"), _("Username"), _("Name"), _("Kind"), _("Measure"), _("Reason"),
                     _("Evidence"), _("Appraisal"), _("Proposed by"), _("Approved by")])
    for line in sanction_lines(form):
        s = line.row
        writer.writerow([s.recorded_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), s.username,
                         line.name or "", str(KIND_LABELS.get(s.kind, s.kind)),
                         str(MEASURE_LABELS.get(s.measure, s.measure)), s.reason, s.evidence or "",
                         line.appraisal_key or "", s.proposed_by or "", s.approved_by])
    return Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="rewards-and-penalties.csv"'})
