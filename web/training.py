"""Training pages (E-3, D-1): managers and service supervisors plan sessions and record
attendance and assessment results; everyone on staff sees their own training. The records
themselves, and the training-need service tasks, are in :mod:`web.training_records`;
``history(session, username)`` is re-exported here for other pages (the staff profile)."""

from __future__ import annotations

from datetime import datetime, time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    DateField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from engine import InvalidTaskData

from . import authz, workflow_engine
from .authz import roles_required, staff_required
from .extensions import db
from .i18n import company_zone
from .models import Role, TrainingSession, User
from .query_forms import QueryForm
from .service_requests import SERVICE_TYPES
from .training_records import (
    COMMENT_MAX,
    SERVICES,
    ResultInput,
    company_today,
    history,
    linked_needs,
    open_needs,
    plan_session,
    record_results,
    session_results,
    trainees,
)

__all__ = ["SERVICES", "bp", "history"]

bp = Blueprint("training", __name__, url_prefix="/training")
ORGANISERS = (Role.MANAGER, Role.SERVICE_SUPERVISOR)
SOURCES = {"appraisal": _l("Appraisal"), "spot_check": _l("Spot check"), "manager": _l("Manager")}
_YES_NO = [SelectChoice("", "—"), SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))]
_ANSWER = {"yes": True, "no": False, "": None, None: None}
RESULT_LABELS = {"attended": _l("Attended"), "assessment_score": _l("Score"), "passed": _l("Passed"),
                 "comment": _l("Comment")}


def _now() -> datetime:
    return workflow_engine().clock.now()


def is_organiser(user: User) -> bool:
    return user.has_role(*ORGANISERS)


def may_record(viewer: User, subject: User | None) -> bool:
    """Record or correct ``subject``'s result: an organiser who may see their records, and
    not their own (whoever records is responsible for it, A-2)."""
    return (is_organiser(viewer) and authz.may_see_staff_record(viewer, subject)
            and subject is not None and subject.id != viewer.id)


@bp.context_processor
def _labels() -> dict:
    return {"training_sources": SOURCES, "result_labels": RESULT_LABELS}


def _skills() -> list[SelectChoice]:
    return [SelectChoice(key, label) for key, label in SERVICE_TYPES.items()]


# --- forms ------------------------------------------------------------------------------------

class FilterForm(QueryForm):

    first = DateField(_l("From"), validators=[Optional()])
    last = DateField(_l("To"), validators=[Optional()])
    topic = StringField(_l("Topic"), validators=[Optional(), Length(max=200)])
    skill = SelectField(_l("Skill"), validators=[Optional()],
                        choices=[SelectChoice("", _l("All")), *_skills()])


class SessionForm(FlaskForm):
    topic = StringField(_l("Topic"), validators=[InputRequired(), Length(max=200)])
    skill = SelectField(_l("Skill (optional)"), validators=[Optional()],
                        choices=[SelectChoice("", "—"), *_skills()])
    starts_at = DateTimeLocalField(_l("Starts at (company time)"), format="%Y-%m-%dT%H:%M",
                                   validators=[InputRequired()])
    hours = FloatField(_l("Hours"), validators=[InputRequired(), NumberRange(min=0.5, max=24)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=100)])
    trainer = StringField(_l("Trainer (name or staff username)"),
                          validators=[InputRequired(), Length(max=100)])
    description = TextAreaField(_l("What the session covers"), validators=[Optional(), Length(max=2000)])
    # Tick boxes: choosing several people needs no Ctrl-click and no JavaScript.
    attendees = SelectMultipleField(_l("Attendees"), validators=[Optional()],
                                    widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    needs = SelectMultipleField(_l("Training needs it addresses (their people attend)"), coerce=int,
                                validators=[Optional()], widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not self.attendees.data and not self.needs.data:
            self.attendees.errors = [*self.attendees.errors,
                                     _("Choose at least one attendee or training need.")]
            return False
        return valid


def _session_form() -> SessionForm:
    form = SessionForm()
    form.attendees.choices = [SelectChoice(u.username, f"{u.display_name} ({u.username})")
                              for u in trainees(db.session)]
    today = company_today(_now())
    form.needs.choices = [
        SelectChoice(n.id, f"{n.username} · {n.topic} · {_('due')} {n.due.isoformat()}"
                     + (f" ({_('overdue')})" if n.overdue(today) else ""))
        for n in _visible_needs(open_needs(db.session))]
    return form


def _results_form(attendees: list[User], results: dict, data=None) -> FlaskForm:
    """One row of fields per attendee the current user may record, named ``<username>__<field>``,
    filled with the result as it stands."""
    fields = {}
    for person in attendees:
        u = person.username
        fields[f"{u}__attended"] = SelectField(_l("Attended"), choices=_YES_NO, validators=[Optional()])
        # 0–100 is checked with the other rules of a result (training_records.result_problems).
        fields[f"{u}__assessment_score"] = IntegerField(_l("Score (0–100)"), validators=[Optional()],
                                                        render_kw={"min": 0, "max": 100})
        fields[f"{u}__passed"] = SelectField(_l("Passed"), choices=_YES_NO, validators=[Optional()])
        fields[f"{u}__comment"] = StringField(_l("Comment"), validators=[Optional(), Length(max=COMMENT_MAX)])
        fields[f"{u}__reason"] = StringField(_l("Reason for the change"),
                                             validators=[Optional(), Length(max=500)])
    form = type("ResultsForm", (FlaskForm,), fields)(formdata=data)
    if data is None:
        for person in attendees:
            result = results[person.username]
            form[f"{person.username}__attended"].data = _yes_no(result.attended)
            form[f"{person.username}__assessment_score"].data = result.assessment_score
            form[f"{person.username}__passed"].data = _yes_no(result.passed)
            form[f"{person.username}__comment"].data = result.comment or ""
    return form


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _entries(form: FlaskForm, attendees: list[User]) -> dict[str, ResultInput]:
    """What was entered for each attendee whose row was posted (a browser posts every row;
    a row left out of the request is left as it is)."""
    def entry(username: str) -> ResultInput:
        def value(name: str):
            return form[f"{username}__{name}"].data

        return ResultInput(attended=_ANSWER[value("attended")], assessment_score=value("assessment_score"),
                           passed=_ANSWER[value("passed")], comment=value("comment"), reason=value("reason"))

    return {p.username: entry(p.username) for p in attendees
            if any(f"{p.username}__{name}" in request.form for name in (*RESULT_LABELS, "reason"))}


# --- what the current user may see ------------------------------------------------------------

def _users(usernames) -> dict[str, User]:
    names = sorted(set(usernames))
    return {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(names)))} \
        if names else {}


def _visible_needs(needs):
    people = _users(n.username for n in needs)
    return [n for n in needs if authz.may_see_staff_record(current_user, people.get(n.username))]


def _session_or_404(session_id: int) -> TrainingSession:
    """The session, if the current user organises training or is invited to it.

    :raise 404: no such session, or the user is neither (its existence is not disclosed).
    """
    training = db.session.get(TrainingSession, session_id)
    if training is None or not (is_organiser(current_user)
                                or any(a.username == current_user.username for a in training.attendance)):
        abort(404)
    return training


# --- views ------------------------------------------------------------------------------------

@bp.get("/")
@staff_required
def index():
    """Organisers: sessions (upcoming, past; filtered) and open needs. Others: their training."""
    if not is_organiser(current_user):
        return mine()
    form = FilterForm(request.args)
    if not form.validate():
        return render_template("training/index.html", form=form, upcoming=[], past=[], needs=[],
                               today=company_today(_now())), 422
    zone, now = company_zone(), _now()
    query = select(TrainingSession)
    if form.first.data:
        query = query.where(TrainingSession.starts_at >= datetime.combine(form.first.data, time(), zone))
    if form.last.data:
        query = query.where(TrainingSession.starts_at < datetime.combine(form.last.data, time.max, zone))
    if form.topic.data:
        query = query.where(TrainingSession.topic.icontains(form.topic.data.strip(), autoescape=True))
    if form.skill.data:
        query = query.where(TrainingSession.skill == form.skill.data)
    sessions = db.session.scalars(query.order_by(TrainingSession.starts_at, TrainingSession.id)).all()
    needs = _visible_needs(open_needs(db.session, topic=(form.topic.data or "").strip() or None,
                                      skill=form.skill.data or None))
    return render_template("training/index.html", form=form, today=company_today(now), needs=needs,
                           upcoming=[s for s in sessions if s.starts_at > now],
                           past=[s for s in reversed(sessions) if s.starts_at <= now])


@bp.get("/mine")
@staff_required
def mine():
    """The current user's sessions with results, and their open and closed needs."""
    return render_template("training/mine.html", history=history(db.session, current_user.username),
                           today=company_today(_now()), now=_now())


@bp.route("/sessions/new", methods=["GET", "POST"])
@roles_required(*ORGANISERS)
def new_session():
    """Plan a session; 422 with field errors (nothing saved) when the form is invalid."""
    form = _session_form()
    if request.method == "GET":
        return render_template("training/new.html", form=form)
    if not form.validate_on_submit():
        return render_template("training/new.html", form=form), 422
    starts_at = form.starts_at.data.replace(tzinfo=company_zone())
    training = plan_session(
        db.session, topic=form.topic.data.strip(), skill=form.skill.data or None, starts_at=starts_at,
        hours=form.hours.data, location=(form.location.data or "").strip(), trainer=form.trainer.data.strip(),
        description=(form.description.data or "").strip(), attendees=form.attendees.data,
        need_ids=form.needs.data, by=current_user.username, now=_now())
    db.session.commit()
    flash(_("Session planned: %(topic)s.", topic=training.topic), "success")
    return redirect(url_for("training.session", session_id=training.id)), 303


@bp.route("/sessions/<int:session_id>", methods=["GET", "POST"])
@staff_required
def session(session_id: int):
    """A session: details and attendees; once it has started, organisers record results
    (422 with field errors, nothing saved; changing a recorded one needs a reason).

    :raise 404: see :func:`_session_or_404`. :raise 403: posting without organising training.
    :raise 409: posting results before the session starts.
    """
    training = _session_or_404(session_id)
    results = session_results(db.session, training)
    people = _users(results)
    visible = [u for u in sorted(results) if authz.may_see_staff_record(current_user, people.get(u))]
    recordable = [people[u] for u in visible if may_record(current_user, people.get(u))]
    started = training.starts_at <= _now()
    if request.method == "POST":
        if not recordable:
            abort(403)
        if not started:
            abort(409, description=_("Results can be recorded once the session has started."))
    form = _results_form(recordable, results, request.form if request.method == "POST" else None) \
        if started and recordable else None
    status = 200
    if request.method == "POST":
        outcome = _record(form, training, recordable)
        if outcome is not None:
            return outcome
        status = 422
    return render_template(
        "training/session.html", training=training, results=results, people=people, visible=visible,
        recordable={p.username for p in recordable}, form=form, started=started,
        needs=_visible_needs(linked_needs(db.session, training.id)),
        trainer=_users([training.trainer]).get(training.trainer)), status


def _record(form, training: TrainingSession, recordable: list[User]):
    """Validate and record; a redirect when done, None when the form has errors."""
    if not form.validate_on_submit():
        return None
    entries = _entries(form, recordable)
    try:
        done = workflow_engine().transaction(
            lambda tx: record_results(tx, training.id, entries, by=current_user.username),
            user=current_user.username)
    except InvalidTaskData as exc:
        for key, messages in exc.errors.items():
            if key in form:
                form[key].errors = [*form[key].errors, *messages]
        return None
    flash(_("Recorded %(n)d results and %(m)d corrections; %(k)d training needs completed.",
            n=len(done.recorded), m=len(done.corrected), k=len(done.closed_needs)), "success")
    return redirect(url_for("training.session", session_id=training.id)), 303
