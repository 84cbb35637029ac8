"""Service-task functions: what the diagrams ask the application to do — pick samples,
start rectifications and questionnaires, record the facts the analysis counts, prepare
the meeting's agenda. They run inside the engine's transaction: an error here undoes the
step that reached them, and an ``InvalidTaskData`` shows on the form just submitted."""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import InstanceStatus, InvalidTaskData, ServiceCall
from engine.models import ProcessInstance

from . import analytics, workflow_engine
from .i18n import company_zone
from .models import (
    FeedbackItem,
    InspectionResult,
    RectificationItem,
    Role,
    SatisfactionScore,
    ServiceCase,
    User,
    UserRole,
)

SAMPLE_SIZE = 5
SAMPLE_WINDOW = timedelta(days=7)
SURVEY_SIZE = 20
PROBLEM_MAX = 2000  # the rectification's start form: problem maxlength
# The work was done and accepted (whatever the owner then said about it).
SERVED_ENDS = ("EndEvent_Closed", "EndEvent_Unrated", "EndEvent_FollowedUp")


def _now(call: ServiceCall) -> datetime:
    return call.now or workflow_engine().clock.now()



def _user(call: ServiceCall, username: str | None) -> User | None:
    return call.session.scalar(select(User).where(User.username == (username or "")))


def active_staff(session: Session, username: object, field: str, role: Role | None = None) -> User:
    """The active staff member ``username`` (with ``role``), or a form error on ``field``:
    how every service step checks a person named on a form or in a variable."""
    user = session.scalar(select(User).where(User.username == str(username or "")))
    if user is None or not user.active or not user.is_staff or (role and not user.has_role(role)):
        what = "an active technician" if role is Role.TECHNICIAN else "an active staff member"
        raise InvalidTaskData({field: [f"is not {what}'s username"]})
    return user


def _start_rectification(call: ServiceCall, *, problem: str, source: str, reference: str | None,
                         responsible_field: str, deadline: str) -> dict:
    responsible = active_staff(call.session, call.variables.get(responsible_field), responsible_field)
    started = call.start("rectification", {
        "problem": problem, "source": source, "source_reference": reference or "",
        "responsible": responsible.username, "deadline": deadline,
    }, business_key=f"RC-{reference or 'X'}-{secrets.token_hex(2).upper()}")
    return {"last_rectification": started}


# --- spot checks (R-3.1) -----------------------------------------------------------------

def pick_spot_check_sample(call: ServiceCall) -> dict:
    """Up to five requests served in the last week, picked at random (seeded by the check,
    so a re-run of the same check picks the same ones)."""
    served = list(call.session.scalars(
        select(ServiceCase.business_key)
        .join(ProcessInstance, ProcessInstance.id == ServiceCase.instance_id)
        .where(ProcessInstance.status == InstanceStatus.COMPLETED,
               ProcessInstance.end_event_id.in_(SERVED_ENDS),
               ProcessInstance.ended_at >= _now(call) - SAMPLE_WINDOW)
        .order_by(ServiceCase.business_key)))
    chosen = random.Random(call.business_key or call.instance_id).sample(
        served, min(SAMPLE_SIZE, len(served)))
    return {"sample": sorted(chosen), "sample_size": len(chosen)}


def record_inspection(call: ServiceCall) -> dict:
    """One inspected request, with the technician who did the work (the appraisal counts it).
    When the inspector asks for training, it is for that technician.

    :raise InvalidTaskData: on ``training_needed`` when the request names no technician.
    """
    found = call.variables
    case = call.session.scalar(select(ServiceCase).where(ServiceCase.business_key == found["item"]))
    technician = case.technician if case else None
    row = (call.session.get(InspectionResult, (call.instance_id, found["item"]))
           or InspectionResult(instance_id=call.instance_id, item=found["item"]))
    row.check_key = call.business_key
    row.technician = technician
    row.result = found["check_result"]
    row.passed = found["check_result"] == "passed"
    row.findings = found.get("findings") or None
    row.inspected_by = call.actor or ""
    row.inspected_at = _now(call)
    call.session.add(row)
    if not found.get("training_needed"):
        return {"technician": technician}
    if technician is None:
        raise InvalidTaskData({"training_needed": ["the request has no technician recorded"]})
    reason = f"抽查 Spot check {call.business_key or ''} · {found['item']}: {found.get('findings') or ''}"
    return {"technician": technician, "training_for": technician,
            "training_reason": reason.strip()[:PROBLEM_MAX]}


def start_rectification_from_check(call: ServiceCall) -> dict:
    """A failed check becomes a rectification for the person the inspector named."""
    found = call.variables
    return _start_rectification(call, problem=found["findings"], source="spot_check",
                                reference=found["item"], responsible_field="responsible",
                                deadline=found["rectify_by"])


# --- rectifications (R-3.4) --------------------------------------------------------------

def record_rectification(call: ServiceCall) -> dict:
    """The rectification's facts, written when it starts (by hand or from another process).

    :raise InvalidTaskData: on ``responsible`` unless it names an active staff member.
    """
    found = call.variables
    responsible = active_staff(call.session, found.get("responsible"), "responsible")
    call.session.merge(RectificationItem(
        instance_id=call.instance_id, business_key=call.business_key, problem=found["problem"],
        source=found["source"], source_reference=found.get("source_reference") or None,
        responsible=responsible.username, deadline=date.fromisoformat(str(found["deadline"])[:10]),
        started_at=_now(call), started_by=found.get("started_by") or call.actor))
    return {}


# --- service requests and satisfaction (R-2.1, R-3.2, S-3) -------------------------------

def record_dispatch(call: ServiceCall) -> dict:
    """Who was sent, and at what priority: the technician filter and the emergency figure.

    :raise InvalidTaskData: on ``technician`` unless it names an active technician.
    """
    technician = active_staff(call.session, call.variables.get("technician"), "technician", Role.TECHNICIAN)
    case = call.session.get(ServiceCase, call.instance_id)
    if case is not None:
        case.technician = technician.username
        case.priority = call.variables.get("priority")
        case.dispatched_at = _now(call)
    return {}


def record_score(call: ServiceCall) -> dict:
    """A rating of a served request, or a survey questionnaire's answer."""
    answer = call.variables
    row = (call.session.get(SatisfactionScore, call.instance_id)
           or SatisfactionScore(instance_id=call.instance_id))
    row.kind = "request" if call.process_key == "service_request" else "survey"
    row.business_key = call.business_key
    row.campaign = answer.get("campaign")
    row.owner_id = answer.get("owner_id") or ""
    row.score = int(answer["satisfaction"])
    row.comments = answer.get("satisfaction_comment") or answer.get("comments") or None
    case = call.session.get(ServiceCase, call.instance_id)
    owner = _user(call, row.owner_id)
    row.service_type = case.service_type if case else None
    row.building = case.building if case else (owner.building if owner else None)
    row.technician = case.technician if case else None
    row.recorded_at = _now(call)
    row.recorded_by = call.actor
    call.session.add(row)
    return {}


def pick_survey_owners(call: ServiceCall) -> dict:
    """A random sample of active owners, about last month (the company's calendar)."""
    owners = sorted(call.session.scalars(
        select(User.username).where(User.active.is_(True),
                                    User.role_rows.any(UserRole.role == Role.OWNER.value))))
    chosen = random.Random(call.business_key or call.instance_id).sample(
        owners, min(SURVEY_SIZE, len(owners)))
    first, last = _previous_month(_now(call).astimezone(company_zone()).date())
    return {"owners": sorted(chosen), "survey_size": len(chosen),
            "period_start": first.isoformat(), "period_end": last.isoformat()}


def _previous_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def send_questionnaires(call: ServiceCall) -> dict:
    """One questionnaire instance per sampled owner, in this transaction."""
    campaign = call.business_key or call.instance_id
    for number, owner in enumerate(call.variables["owners"], start=1):
        call.start("survey_questionnaire", {
            "owner_id": owner, "campaign": campaign, "period_start": call.variables["period_start"],
            "period_end": call.variables["period_end"]}, business_key=f"{campaign}-Q{number:03d}")
    return {"sent": len(call.variables["owners"])}


def summarise_survey(call: ServiceCall) -> dict:
    campaign = call.business_key or call.instance_id
    responses, satisfied, total = call.session.execute(
        select(func.count(), func.count().filter(SatisfactionScore.score >= analytics.SATISFIED_FROM),
               func.coalesce(func.sum(SatisfactionScore.score), 0))
        .where(SatisfactionScore.campaign == campaign)).one()
    asked = call.variables.get("survey_size") or 0
    rate = analytics.Rate(satisfied, responses, analytics.TARGETS["satisfaction"])
    # Whole percentages: the review form shows them in integer fields.
    return {"responses": responses,
            "response_rate": round(100 * responses / asked) if asked else 0,
            "average_score": f"{total / responses:.1f}" if responses else "—",
            "satisfaction_rate": round(rate.percent or 0),
            "low_scores": responses - satisfied,
            "meets_target": bool(rate.on_target)}


# --- feedback (R-4.1 …) ------------------------------------------------------------

_VERDICT = {"yes": True, "no": False}


def record_feedback(call: ServiceCall) -> dict:
    """The feedback's latest state: classification, the reply (and who gave it), the owner's
    verdict. The first call checks the owner and creates the row.

    :raise InvalidTaskData: on ``owner_id`` unless it names an owner's account.
    """
    data = call.variables
    row = call.session.get(FeedbackItem, call.instance_id)
    if row is None:
        owner = _user(call, data.get("owner_id"))
        if owner is None or not owner.has_role(Role.OWNER):
            raise InvalidTaskData({"owner_id": ["is not an owner's username"]})
        row = FeedbackItem(instance_id=call.instance_id, business_key=call.business_key,
                           owner_id=owner.username, building=owner.building, channel=data["channel"],
                           subject=data["subject"], received_at=_now(call),
                           received_by=data.get("started_by") or call.actor)
        call.session.add(row)
    row.category = data.get("category") or row.category
    row.urgency = data.get("urgency") or row.urgency
    reply = data.get("final_reply") or data.get("reply") or None
    if reply and reply != row.reply:
        row.reply, row.replied_at, row.replied_by = reply, _now(call), call.actor
    row.owner_satisfied = _VERDICT.get(data.get("reply_satisfied") or "")
    row.owner_comment = data.get("owner_comment") or None
    row.related_request = data.get("related_request") or row.related_request
    row.updated_at = _now(call)
    return {}


def start_rectification_from_feedback(call: ServiceCall) -> dict:
    found = call.variables
    problem = f"{found['subject']}: {found['handling_note']}"[:PROBLEM_MAX]
    return _start_rectification(call, problem=problem,
                                source="complaint" if found.get("category") == "complaint" else "other",
                                reference=call.business_key,
                                responsible_field="responsible", deadline=found["rectify_by"])


def start_rectification_from_follow_up(call: ServiceCall) -> dict:
    """A low-score follow-up (of a service request or a survey questionnaire) that found the
    service at fault becomes a rectification for the person customer service named.

    :raise InvalidTaskData: on ``responsible`` unless it names an active staff member.
    """
    found = call.variables
    note = found.get("follow_up_result") or found.get("follow_up_note") or ""
    problem = f"低分回访 Low score {found.get('satisfaction')}: {note}"[:PROBLEM_MAX]
    return _start_rectification(call, problem=problem, source="satisfaction", reference=call.business_key,
                                responsible_field="responsible", deadline=found["rectify_by"])


# --- improvement meeting (R-4.4) ---------------------------------------------------------

def prepare_agenda(call: ServiceCall) -> dict:
    """Last month's figures and an agenda drawn from them."""
    first, last = _previous_month(_now(call).astimezone(company_zone()).date())
    period = analytics.Period(first, last, company_zone())
    found = analytics.report(call.session, period, analytics.Filters(), _now(call))
    breaches = sum(found.breaches.values())
    complaints = found.feedback.get("complaint", 0)
    late = found.breaches
    items = [f"1. 期间 Period: {first} – {last}",
             f"2. 超时 Deadlines breached: {breaches} "
             f"(响应 response {late.get('response', 0)}, 处理 handling {late.get('handling', 0)})",
             f"3. 低分评价 Low scores (<{analytics.SATISFIED_FROM}): {found.low_scores}; "
             f"满意率 satisfaction rate {_pct(found.satisfaction)} (目标 target 90%)",
             f"4. 投诉 Complaints: {complaints}; 反馈 feedback by category: "
             + ", ".join(f"{k} {v}" for k, v in found.feedback.items()),
             f"5. 未完成整改 Open rectifications: {len(found.rectifications)} "
             f"(逾期 overdue {found.overdue_rectifications})",
             "6. 重复问题 Repeated problems: "
             + ("; ".join(f"{t} @ {b} ×{n}" for t, b, n in found.problems) or "—"),
             "7. 改进措施 Measures to decide"]
    return {"period_start": first.isoformat(), "period_end": last.isoformat(), "agenda": "\n".join(items),
            "requests_received": found.received, "response_rate": round(found.response.percent or 0),
            "emergency_rate": round(found.emergency.percent or 0),
            "satisfaction_rate": round(found.satisfaction.percent or 0), "breaches": breaches,
            "low_scores": found.low_scores, "open_rectifications": len(found.rectifications),
            "complaints": complaints}


def _pct(rate: analytics.Rate) -> str:
    return "—" if rate.percent is None else f"{rate.percent}%"


def start_rectification_from_meeting(call: ServiceCall) -> dict:
    found = call.variables
    return _start_rectification(call, problem=found["measure"], source="meeting",
                                reference=call.business_key, responsible_field="responsible",
                                deadline=found["deadline"])


SERVICES = {
    "propflow.spot_check.sample": pick_spot_check_sample,
    "propflow.spot_check.record": record_inspection,
    "propflow.spot_check.rectify": start_rectification_from_check,
    "propflow.rectification.record": record_rectification,
    "propflow.service_request.dispatched": record_dispatch,
    "propflow.satisfaction.record": record_score,
    "propflow.satisfaction.rectify": start_rectification_from_follow_up,
    "propflow.survey.sample": pick_survey_owners,
    "propflow.survey.send": send_questionnaires,
    "propflow.survey.summarise": summarise_survey,
    "propflow.feedback.record": record_feedback,
    "propflow.feedback.rectify": start_rectification_from_feedback,
    "propflow.meeting.agenda": prepare_agenda,
    "propflow.meeting.rectify": start_rectification_from_meeting,
}
