"""Staff performance appraisal (E-1) and rewards and penalties (E-2): the period's facts
about one person, counted by SQL over the recorded facts (one function per fact, like
:mod:`web.analytics`), and the service-task functions of ``appraisal_round.bpmn`` and
``appraisal.bpmn`` that start appraisals and write the ``appraisal`` and ``sanction`` rows.

A period is a range of calendar days in the company's time zone (a calendar month for the
monthly round). Whose work a fact is:

* tasks completed: user tasks the person completed (``audit_event``), except the tasks of
  the personnel processes themselves (appraisals, training);
* deadlines: decided deadlines (met or breached) due in the period — the ``handling``
  deadline of requests the person was dispatched to (``service_case.technician``), the
  ``response`` deadline of requests the person registered (completed *Register request*,
  or entered the request themselves: ``service_case.submitted_by``), and the
  ``rectification`` deadline of rectifications they were responsible for;
* scores: owners' ratings (``satisfaction_score``, kind "request") of requests the person
  was dispatched to, recorded in the period;
* inspections: spot-check inspections of the person's work (``inspection_result``);
* rectifications: those they were made responsible for, started in the period; overdue:
  those whose deadline was breached in the period;
* complaints: feedback classified as a complaint, received in the period, about a request
  the person was dispatched to (``feedback_item.related_request``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine import AuditAction, InvalidTaskData, ServiceCall
from engine.models import AuditEvent, Deadline, ProcessInstance

from . import analytics
from .authz import PERSONNEL_PROCESSES
from .i18n import company_zone
from .models import (
    Appraisal,
    FeedbackItem,
    InspectionResult,
    RectificationItem,
    Role,
    Sanction,
    SatisfactionScore,
    ServiceCase,
    User,
    UserRole,
)
from .quality import _now, _previous_month, active_staff

IN_SCOPE = (Role.TECHNICIAN, Role.CUSTOMER_SERVICE, Role.SERVICE_SUPERVISOR)
REWARDS = ("commendation", "bonus")
PENALTIES = ("warning", "demerit")
REGISTER_TASK = "Task_Register"  # service_request.bpmn: customer service registers the request
REVIEW_TIME = timedelta(days=7)
ACKNOWLEDGE_TIME = timedelta(days=5)
APPROVE_TIME = timedelta(days=7)
REMIND_BEFORE = timedelta(days=1)
MAX_SEND_BACKS = 3  # then the manager approves: the loop is bounded (ENGINE_NOTES)
MAX_EVIDENCE = 40  # lines of evidence carried in the case's variables
MAX_PERIOD_DAYS = analytics.MAX_DAYS


@dataclass(frozen=True)
class Facts:
    tasks_completed: int
    deadlines_due: int
    deadlines_met: int
    scores: int
    average_score: float | None
    inspections: int
    inspections_failed: int
    rectifications: int
    rectifications_overdue: int
    complaints: int

    @property
    def deadlines_missed(self) -> int:
        return self.deadlines_due - self.deadlines_met


def facts(session: Session, username: str, period: analytics.Period) -> Facts:
    """Every fact of one person's appraisal for one period."""
    due, met = deadlines(session, username, period)
    scored, average = scores(session, username, period)
    inspected, failed = inspections(session, username, period)
    return Facts(tasks_completed(session, username, period), due, met, scored, average, inspected, failed,
                 rectifications(session, username, period), rectifications_overdue(session, username, period),
                 complaints(session, username, period))


def _within(column, period: analytics.Period):
    return and_(column >= period.start, column < period.end)


def tasks_completed(session: Session, username: str, period: analytics.Period) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent)
        .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
        .where(AuditEvent.action == AuditAction.TASK_COMPLETED, AuditEvent.actor == username,
               _within(AuditEvent.at, period), ProcessInstance.process_key.not_in(PERSONNEL_PROCESSES)))


def _registered_by(username: str):
    """Requests the person registered: completed their *Register request* task, or entered
    them (a phone or on-site request)."""
    registered = select(AuditEvent.instance_id).where(
        AuditEvent.action == AuditAction.TASK_COMPLETED, AuditEvent.element_id == REGISTER_TASK,
        AuditEvent.actor == username)
    entered = select(ServiceCase.instance_id).where(ServiceCase.submitted_by == username)
    return registered.union(entered)


def _own_deadlines(username: str):
    """The deadlines that are the person's: see the module's docstring."""
    dispatched = select(ServiceCase.instance_id).where(ServiceCase.technician == username)
    responsible = select(RectificationItem.instance_id).where(RectificationItem.responsible == username)
    return or_(and_(Deadline.name == "handling", Deadline.instance_id.in_(dispatched)),
               and_(Deadline.name == "response", Deadline.instance_id.in_(_registered_by(username))),
               and_(Deadline.name == "rectification", Deadline.instance_id.in_(responsible)))


def deadlines(session: Session, username: str, period: analytics.Period) -> tuple[int, int]:
    """(due, met): the person's decided deadlines due in the period, and how many were met."""
    due, met = session.execute(
        select(func.count(), func.count().filter(Deadline.met.is_(True)))
        .where(_own_deadlines(username), Deadline.met.is_not(None), _within(Deadline.due_at, period))).one()
    return due, met


def scores(session: Session, username: str, period: analytics.Period) -> tuple[int, float | None]:
    """(ratings, average): owners' ratings of the person's requests recorded in the period;
    no average without ratings."""
    count, average = session.execute(
        select(func.count(), func.avg(SatisfactionScore.score))
        .where(SatisfactionScore.kind == "request", SatisfactionScore.technician == username,
               _within(SatisfactionScore.recorded_at, period))).one()
    return count, (round(float(average), 2) if count else None)


def inspections(session: Session, username: str, period: analytics.Period) -> tuple[int, int]:
    """(inspected, failed): spot-check inspections of the person's work in the period."""
    inspected, failed = session.execute(
        select(func.count(), func.count().filter(InspectionResult.passed.is_(False)))
        .where(InspectionResult.technician == username, _within(InspectionResult.inspected_at, period))).one()
    return inspected, failed


def rectifications(session: Session, username: str, period: analytics.Period) -> int:
    return session.scalar(select(func.count()).select_from(RectificationItem).where(
        RectificationItem.responsible == username, _within(RectificationItem.started_at, period)))


def rectifications_overdue(session: Session, username: str, period: analytics.Period) -> int:
    return session.scalar(_overdue(select(func.count()), username, period))


def _overdue(query, username: str, period: analytics.Period):
    return (query.select_from(RectificationItem)
            .join(Deadline, and_(Deadline.instance_id == RectificationItem.instance_id,
                                 Deadline.name == "rectification"))
            .where(RectificationItem.responsible == username, _within(Deadline.breached_at, period)))


def _about_their_requests(username: str):
    return FeedbackItem.related_request.in_(
        select(ServiceCase.business_key).where(ServiceCase.technician == username))


def complaints(session: Session, username: str, period: analytics.Period) -> int:
    return session.scalar(select(func.count()).select_from(FeedbackItem).where(
        FeedbackItem.category == "complaint", _within(FeedbackItem.received_at, period),
        _about_their_requests(username)))


def evidence(session: Session, username: str, period: analytics.Period) -> list[str]:
    """The records behind the figures that count against the person, one per line, each
    starting with its business key: missed deadlines, failed inspections, overdue
    rectifications, complaints."""
    missed = session.execute(
        select(ProcessInstance.business_key, Deadline.name)
        .join(ProcessInstance, ProcessInstance.id == Deadline.instance_id)
        .where(_own_deadlines(username), Deadline.met.is_(False), _within(Deadline.due_at, period))
        .order_by(Deadline.due_at)).all()
    failed = session.scalars(
        select(InspectionResult.item).where(InspectionResult.technician == username,
                                            InspectionResult.passed.is_(False),
                                            _within(InspectionResult.inspected_at, period))
        .order_by(InspectionResult.inspected_at)).all()
    overdue = session.scalars(_overdue(select(RectificationItem.business_key), username, period)
                              .order_by(Deadline.breached_at)).all()
    complained = session.scalars(
        select(FeedbackItem.business_key).where(FeedbackItem.category == "complaint",
                                                _within(FeedbackItem.received_at, period),
                                                _about_their_requests(username))
        .order_by(FeedbackItem.received_at)).all()
    lines = ([f"{key or '—'} 期限未满足 {name} deadline missed" for key, name in missed]
             + [f"{item} 抽查不合格 failed spot check" for item in failed]
             + [f"{key or '—'} 整改逾期 rectification overdue" for key in overdue]
             + [f"{key or '—'} 投诉 complaint" for key in complained])
    return lines[:MAX_EVIDENCE]


# --- the monthly round --------------------------------------------------------------------

def start_round(call: ServiceCall) -> dict:
    """One ``appraisal`` per active technician, customer-service and supervisor account for
    the period (the previous calendar month unless the start form names one), skipping
    anyone already appraised for a period starting that day.

    :raise InvalidTaskData: on ``period_start`` / ``period_end`` for a period that is
        incomplete, reversed, longer than a year or not over yet.
    """
    first, last = _round_period(call)
    already = set(call.session.scalars(select(Appraisal.username).where(Appraisal.period_start == first)))
    people = call.session.scalars(
        select(User.username).where(User.active.is_(True),
                                    User.role_rows.any(UserRole.role.in_([r.value for r in IN_SCOPE])))
        .order_by(User.username)).all()
    started = [p for p in people if p not in already]
    for username in started:
        call.start("appraisal", {"staff": username, "period_start": first.isoformat(),
                                 "period_end": last.isoformat(),
                                 "round": call.business_key or call.instance_id},
                   business_key=f"AP-{first:%Y-%m}-{username}")
    return {"period_start": first.isoformat(), "period_end": last.isoformat(), "appraised": started,
            "skipped": sorted(already & set(people)), "appraisals_started": len(started)}


def _round_period(call: ServiceCall) -> tuple[date, date]:
    given = {name: _as_date(call.variables.get(name)) for name in ("period_start", "period_end")}
    today = _now(call).astimezone(company_zone()).date()
    if not any(given.values()):
        return _previous_month(today)
    errors = {name: ["is required when the other end of the period is given"]
              for name, value in given.items() if value is None}
    first, last = given["period_start"], given["period_end"]
    if not errors and last < first:
        errors["period_end"] = ["must not be before the start of the period"]
    elif not errors and (last - first).days >= MAX_PERIOD_DAYS:
        errors["period_end"] = [f"the period may be at most {MAX_PERIOD_DAYS} days"]
    elif not errors and last >= today:
        errors["period_end"] = ["the period must be over: end it yesterday or earlier"]
    if errors:
        raise InvalidTaskData(errors)
    return first, last


def _as_date(value) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).date()


# --- one appraisal ------------------------------------------------------------------------

def compute_facts(call: ServiceCall) -> dict:
    """The period's facts for ``staff``, written to a new ``appraisal`` row (status
    "reviewing") and returned as variables, with who reviews and by when.

    :raise InvalidTaskData: on ``staff`` for an unknown or inactive account, or one already
        appraised for a period starting that day.
    """
    staff = active_staff(call.session, call.variables.get("staff"), "staff")
    first, last = _as_date(call.variables["period_start"]), _as_date(call.variables["period_end"])
    if call.session.scalar(select(Appraisal.instance_id).where(
            Appraisal.username == staff.username, Appraisal.period_start == first)) is not None:
        raise InvalidTaskData({"staff": [f"already has an appraisal for the period starting {first}"]})
    period = analytics.Period(first, last, company_zone())
    found = facts(call.session, staff.username, period)
    lines = evidence(call.session, staff.username, period)
    supervisor = staff.has_role(Role.SERVICE_SUPERVISOR)
    reviewer_group = (Role.MANAGER if supervisor else Role.SERVICE_SUPERVISOR).value
    reviewers = call.session.scalars(
        select(User.username).where(User.active.is_(True), User.username != staff.username,
                                    User.role_rows.any(UserRole.role == reviewer_group))
        .order_by(User.username)).all()
    now = _now(call)
    # Added last: this instance's own row is written when the engine saves it, after this
    # step, and a query after the add would flush the appraisal before it.
    call.session.add(Appraisal(
        instance_id=call.instance_id, business_key=call.business_key, round_key=call.variables.get("round"),
        username=staff.username, period_start=first, period_end=last, computed_at=now, status="reviewing",
        **asdict(found)))
    return {**asdict(found), "deadlines_missed": found.deadlines_missed,
            "average_score_text": "—" if found.average_score is None else f"{found.average_score:.2f}",
            "staff_name": staff.display_name, "reviewer_group": reviewer_group, "reviewers": list(reviewers),
            "evidence_lines": "\n".join(lines), "return_count": 0, "return_note": "",
            "training_gap": False, **_due("review", now, REVIEW_TIME)}


def _due(step: str, now: datetime, within: timedelta) -> dict:
    """``<step>_due`` and, a day before it, ``<step>_reminder`` (ISO 8601, UTC)."""
    due = now + within
    return {f"{step}_due": due.isoformat(), f"{step}_reminder": (due - REMIND_BEFORE).isoformat()}


def _row(call: ServiceCall) -> Appraisal:
    return call.session.get(Appraisal, call.instance_id)


def _not_the_appraised(call: ServiceCall, field: str, what: str) -> None:
    if call.actor == call.variables.get("staff"):
        raise InvalidTaskData({field: [f"you may not {what} your own appraisal"]})


def record_review(call: ServiceCall) -> dict:
    """The reviewer's assessment and score; the staff member acknowledges next.

    :raise InvalidTaskData: on ``assessment`` when the reviewer is the appraised person; on
        ``training_due`` for a date already past.
    """
    _not_the_appraised(call, "assessment", "review")
    data, row, now = call.variables, _row(call), _now(call)
    train_by = _as_date(data.get("training_due")) if data.get("training_gap") else None
    if train_by is not None and train_by < now.astimezone(company_zone()).date():
        raise InvalidTaskData({"training_due": ["must not be before today"]})
    row.reviewer, row.score, row.assessment = call.actor, data["score"], data["assessment"]
    row.reviewed_at = now
    row.acknowledged_at = row.staff_comment = None
    row.status = "acknowledging"
    result = {"reviewer": call.actor, **_due("acknowledge", now, ACKNOWLEDGE_TIME)}
    if data.get("training_gap"):
        result.update(training_for=data["staff"], training_reason=(
            f"绩效考核 Appraisal {call.business_key} ({data['period_start']} – {data['period_end']}): "
            f"{data['training_topic']}"))
    return result


def record_acknowledgement(call: ServiceCall) -> dict:
    """The staff member has read the appraisal (and may have commented).

    :raise InvalidTaskData: on ``staff_comment`` when someone else completes the task.
    """
    if call.actor != call.variables.get("staff"):
        raise InvalidTaskData({"staff_comment": ["only the appraised person acknowledges the appraisal"]})
    row, now = _row(call), _now(call)
    row.acknowledged_at, row.staff_comment = now, call.variables.get("staff_comment") or None
    row.status = "approving"
    shown = f"{now.astimezone(company_zone()):%Y-%m-%d %H:%M}"
    return {"acknowledged": True, "acknowledged_text": f"已确认 Acknowledged {shown}",
            **_due("approve", now, APPROVE_TIME)}


def record_no_acknowledgement(call: ServiceCall) -> dict:
    """The time to acknowledge ran out: recorded as not acknowledged; the manager goes on."""
    row, now = _row(call), _now(call)
    row.acknowledged_at = row.staff_comment = None
    row.status = "approving"
    return {"acknowledged": False, "staff_comment": "",
            "acknowledged_text": "未确认（确认期限已过）Not acknowledged: the time ran out",
            **_due("approve", now, APPROVE_TIME)}


def record_send_back(call: ServiceCall) -> dict:
    """The manager sends the appraisal back to the reviewer with a note.

    :raise InvalidTaskData: on ``decision`` for the appraised person, or after
        ``MAX_SEND_BACKS`` returns.
    """
    _not_the_appraised(call, "decision", "decide on")
    returned = call.variables.get("return_count") or 0
    if returned >= MAX_SEND_BACKS:
        raise InvalidTaskData({"decision": [
            f"this appraisal was sent back {returned} times already: approve it"]})
    _row(call).status = "reviewing"
    return {"return_count": returned + 1, **_due("review", _now(call), REVIEW_TIME)}


def record_approval(call: ServiceCall) -> dict:
    """The manager's approval, with the rules' proposal on the approved figures (the
    ``appraisal_outcome`` decision ran just before); prefills the reward or penalty.

    :raise InvalidTaskData: on ``decision`` when the approver is the appraised person.
    """
    _not_the_appraised(call, "decision", "approve")
    data, row = call.variables, _row(call)
    row.approver, row.approved_at, row.status = call.actor, _now(call), "approved"
    row.proposal, row.proposal_reason = data["proposal"], data.get("reason")
    lines = [f"{call.business_key} 绩效考核 appraisal"]
    if data["proposal"] == "penalty" and data.get("evidence_lines"):
        lines.append(data["evidence_lines"])
    return {"approver": call.actor, "sanction_measure": data.get("measure"),
            "sanction_reason": data.get("reason") or "", "sanction_evidence": "\n".join(lines),
            "sanction_due": (_now(call) + APPROVE_TIME).isoformat()}


def record_sanction(call: ServiceCall) -> dict:
    """The reward or penalty the manager approved (as proposed, or modified).

    :raise InvalidTaskData: on ``sanction_decision`` for the appraised person; on
        ``sanction_measure`` when "approve as proposed" comes with another measure.
    """
    _not_the_appraised(call, "sanction_decision", "decide a reward or penalty in")
    data = call.variables
    measure, reason = data["sanction_measure"], _plain(data["sanction_reason"])
    if data["sanction_decision"] == "approve" and measure != data.get("measure"):
        raise InvalidTaskData({"sanction_measure": ["differs from the proposal: choose Modify to change it"]})
    unchanged = measure == data.get("measure") and reason == _plain(data.get("reason") or "")
    evidence_text = _plain(data.get("sanction_evidence") or "") or None
    row = Sanction(username=data["staff"], kind="reward" if measure in REWARDS else "penalty",
                   measure=measure, reason=reason, evidence=evidence_text,
                   appraisal_id=call.instance_id, proposed_by="rules" if unchanged else call.actor,
                   approved_by=call.actor, recorded_at=_now(call))
    call.session.add(row)
    call.session.flush()
    return {"sanction": row.id}


def _plain(text: str) -> str:
    """Text as stored: a browser's CR LF line ends are the same text."""
    return text.replace("\r\n", "\n").strip()


SERVICES = {
    "propflow.appraisal.start_round": start_round,
    "propflow.appraisal.facts": compute_facts,
    "propflow.appraisal.review": record_review,
    "propflow.appraisal.acknowledge": record_acknowledgement,
    "propflow.appraisal.not_acknowledged": record_no_acknowledgement,
    "propflow.appraisal.send_back": record_send_back,
    "propflow.appraisal.approve": record_approval,
    "propflow.appraisal.sanction": record_sanction,
}
