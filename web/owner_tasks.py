"""An owner's own step in a flow (accept the work, rate it, confirm a time, judge a reply,
answer a questionnaire), answered on the page of the case it belongs to."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta

from flask import abort, flash, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from engine import Conflict, InstanceStatus, InstanceView, InvalidTaskData, Notice, TaskFilter, TaskView
from forms import apply_engine_errors, build_form_class, form_data, initial_values

from . import authz, workflow_engine

# Where an owner answers each kind of task, and what the list calls it.
PAGES = {"service_request": "cases.detail", "feedback": "feedback.detail",
         "survey_questionnaire": "feedback.survey"}
KINDS = {"service_request": _l("Request"), "feedback": _l("Feedback"),
         "survey_questionnaire": _l("Satisfaction survey")}


def plain_status(instance: InstanceView, waiting_for: Mapping[str, str], ended: Mapping[str, str],
                 closed: str, side_tasks: Collection[str] = ()) -> tuple[str, list[TaskView]]:
    """What a case's owner reads: the sentence for its state, and the open tasks that are
    the case's work (not escalations and other ``side_tasks``)."""
    work = [t for t in instance.open_tasks if t.element_id not in side_tasks]
    if instance.status == InstanceStatus.CANCELLED:
        text = _l("Cancelled.")
    elif instance.status == InstanceStatus.COMPLETED:
        text = ended.get(instance.end_event_id or "", closed)
    elif work:
        text = waiting_for.get(work[0].element_id, work[0].name)
    else:
        text = _l("In progress.")
    return str(text), work


def own_task(instance: InstanceView) -> TaskView | None:
    """The open task of this case that is the signed-in owner's to answer."""
    if current_user.is_staff:
        return None
    return next((t for t in instance.open_tasks if t.assignee == current_user.username), None)


def waiting_for_me(limit: int = 50) -> list[TaskView]:
    """Every open task assigned to the signed-in owner, soonest due first."""
    return workflow_engine().user_tasks(TaskFilter(assignee=current_user.username), limit=limit)


def reminders() -> list[Notice]:
    """Reminders the diagrams sent the signed-in person in the last week (an owner's to rate
    or answer, staff's about their rectifications): shown on the owners' pages and the worklist."""
    engine = workflow_engine()
    found = engine.notices(current_user.username, since=engine.clock.now() - timedelta(days=7))
    # A reminder about a personnel record is shown only to someone who may see that record.
    return [n for n in found if n.process_key not in authz.PERSONNEL_PROCESSES or authz.may_see_instance(
        current_user, n.process_key, engine.instance(n.instance_id).variables)]


def answer(instance: InstanceView):
    """The owner's task form, and on POST its answer: ``(task, form, response, status)``;
    ``response`` is the redirect back to this page after a recorded answer, else None."""
    back = request.path
    own = own_task(instance)
    if own is None:
        if request.method == "POST":
            abort(409, description=_("There is nothing for you to answer here now."))
        return None, None, None, 200
    engine = workflow_engine()
    if request.method != "POST":
        task = engine.task(own.id)  # with its current answers
        return own, build_form_class(task.form)(None, data=initial_values(task.form, task.data)), None, 200
    form = build_form_class(own.form)(request.form)  # the case's read gave the task and its form
    try:
        if form.validate():
            engine.complete_user_task(own.id, form_data(form, own.form), user=current_user.username)
            flash(_("Thank you, your answer was recorded."), "success")
            return own, form, redirect(back, 303), 303
    except InvalidTaskData as exc:
        apply_engine_errors(form, exc.errors)
    except Conflict as exc:
        flash(str(exc), "error")
        return own, form, redirect(back, 303), 303
    return own, form, None, 422
