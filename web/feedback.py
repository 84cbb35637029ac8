"""Feedback and surveys as owners and the office see them (R-3.2, R-4.1 … R-4.3): owners
give feedback online, read the reply and say whether it settles the matter, and answer
satisfaction questionnaires; customer service enters phone calls and letters through the
feedback diagram's own start form (``/processes/feedback/start``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import FormDefinition, InstanceNotFound, InstanceView, InvalidTaskData
from forms import apply_engine_errors, build_form_class, form_data

from . import authz, corrections, owner_tasks, workflow_engine
from .authz import roles_required
from .extensions import db
from .models import FeedbackItem, Role

bp = Blueprint("feedback", __name__, url_prefix="/feedback")
PROCESS = "feedback"
SURVEY = "survey_questionnaire"
PAGE_SIZE = 25
CATEGORIES = {"complaint": _l("Complaint"), "suggestion": _l("Suggestion"), "praise": _l("Praise"),
              "inquiry": _l("Inquiry")}
FEEDBACK_CHANNELS = {"online": _l("Online"), "phone": _l("Phone"), "letter": _l("Letter")}
_SERVER_FIELDS = ("channel", "owner_id", "letter_date")
_WAITING_FOR = {
    "Task_Classify": _l("Customer service is reading your feedback."),
    "Task_Handle": _l("Your feedback is being handled; you will have a reply by the time shown."),
    "Task_ReplyOverdue": _l("Your feedback is being handled; you will have a reply by the time shown."),
    "Task_OwnerVerdict": _l("We have replied. Please tell us whether the reply settles it."),
    "Task_SupervisorReview": _l("A service supervisor is reviewing your feedback."),
}
_ENDED = {
    "EndEvent_Resolved": _l("Resolved: you were satisfied with the reply."),
    "EndEvent_ClosedBySupervisor": _l("Closed by the service supervisor's final reply."),
    "EndEvent_NoAnswer": _l("Closed: no answer to the reply within 7 days."),
}


@dataclass(frozen=True)
class FeedbackStatus:
    text: str
    reply_due: str | None
    reply: str | None


def describe(instance: InstanceView) -> FeedbackStatus:
    """Where the feedback stands, in the owner's words."""
    text, _work = owner_tasks.plain_status(instance, _WAITING_FOR, _ENDED, _l("Closed."),
                                           side_tasks={"Task_ReplyOverdue"})
    variables = instance.variables
    reply = variables.get("final_reply") or variables.get("reply")
    return FeedbackStatus(text, variables.get("reply_due"), reply)


@bp.get("/")
@login_required
def index():
    """Owners: their own feedback. Office staff: all of it, urgent and newest first."""
    query = select(FeedbackItem)
    if not current_user.has_role(*authz.READ_ALL_CASES):
        if not current_user.has_role(Role.OWNER):
            abort(403)
        query = query.where(FeedbackItem.owner_id == current_user.username)
    category = request.args.get("category")
    if category in CATEGORIES:
        query = query.where(FeedbackItem.category == category)
    page = max(request.args.get("page", 1, type=int), 1)
    rows = db.session.scalars(
        query.order_by((FeedbackItem.urgency == "urgent").desc(), FeedbackItem.received_at.desc(),
                       FeedbackItem.instance_id)
        .limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    return render_template("feedback/index.html", items=rows[:PAGE_SIZE], page=page,
                           has_next=len(rows) > PAGE_SIZE, category=category,
                           waiting=owner_tasks.waiting_for_me() if not current_user.is_staff else [],
                           reminders=owner_tasks.reminders() if not current_user.is_staff else [])


def _owner_form() -> tuple[FormDefinition, type]:
    definition = workflow_engine().start_form(PROCESS)
    visible = FormDefinition(tuple(f for f in definition.fields if f.id not in _SERVER_FIELDS))
    return visible, build_form_class(visible, "FeedbackForm")


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.OWNER)
def new():
    """An owner gives feedback online (R-4.1); the channel and the owner are set here."""
    visible, form_class = _owner_form()
    form = form_class(request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("feedback/new.html", form=form)
    if form.validate():
        engine = workflow_engine()
        values = {**form_data(form, visible), "channel": "online", "owner_id": current_user.username}
        business_key = f"FB-{engine.clock.now():%Y%m%d}-{secrets.token_hex(3).upper()}"
        try:
            instance = engine.start(PROCESS, values, business_key=business_key, user=current_user.username)
        except InvalidTaskData as exc:
            apply_engine_errors(form, exc.errors)
        else:
            flash(_("Feedback %(key)s received. Thank you.", key=business_key), "success")
            return redirect(url_for("feedback.detail", instance_id=instance.id)), 303
    return render_template("feedback/new.html", form=form), 422


def _visible_or_404(instance_id: str, process_key: str) -> InstanceView:
    try:
        instance = workflow_engine().instance(instance_id)
    except InstanceNotFound:
        abort(404)
    if instance.process_key != process_key or not authz.may_see_case(
            current_user, instance.variables.get("owner_id"), instance.open_tasks):
        abort(404)  # whether someone else's feedback exists is not disclosed
    return instance


def _history(instance: InstanceView) -> list:
    return [e for e in workflow_engine().history(instance.id)
            if e.action.value in ("started", "task_completed", "deadline_breached", "cancelled")]


@bp.route("/<instance_id>", methods=["GET", "POST"])
@login_required
def detail(instance_id: str):
    """The feedback, its reply, and the owner's verdict on the reply when it is asked for."""
    return _owner_page(instance_id, PROCESS, "feedback/detail.html", lambda instance: {
        "item": instance, "status": describe(instance), "history": _history(instance),
        "corrections": corrections.panel_for(db.session, current_user, "feedback", instance.id)})


@bp.route("/survey/<instance_id>", methods=["GET", "POST"])
@login_required
def survey(instance_id: str):
    """A satisfaction questionnaire (R-3.2): the owner answers it here."""
    return _owner_page(instance_id, SURVEY, "feedback/survey.html", lambda instance: {"survey": instance})


def _owner_page(instance_id: str, process_key: str, template: str, context):
    """A case page with the owner's open step as a form (422 with errors, redirect when done)."""
    instance = _visible_or_404(instance_id, process_key)
    own, form, done, status = owner_tasks.answer(instance)
    if done is not None:
        return done
    return render_template(template, own_task=own, form=form, **context(instance)), status
