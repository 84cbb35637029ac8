"""The service-request process as owners and staff talk about it: submitting, and what
a case's state means in plain words. Views call these; these call the engine."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from engine import InstanceStatus, InstanceView, WorkflowEngine

from . import owner_tasks, uploads
from .models import ServiceCase

PROCESS = "service_request"
SERVICE_TYPES = {
    "plumbing": _l("Plumbing"), "electrical": _l("Electrical"), "facility": _l("Facility"),
    "cleaning": _l("Cleaning"), "other": _l("Other"),
}
CHANNELS = {"online": _l("Online"), "phone": _l("Phone"), "on_site": _l("On site")}
PRIORITIES = {"emergency": _l("Emergency"), "high": _l("High"), "normal": _l("Normal"), "low": _l("Low")}
# A task's priority on the worklist: a request's, or "urgent" for urgent feedback. These
# come first, in this order, whatever their due times.
TASK_PRIORITIES = {"emergency": PRIORITIES["emergency"], "urgent": _l("Urgent"), **PRIORITIES}
URGENT_FIRST = ("emergency", "urgent")

# What the owner is waiting for, by the open task.
_WAITING_FOR = {
    "Task_Register": _l("Customer service will register your request."),
    "Task_Review": _l("A service supervisor is reviewing your request."),
    "Task_Confirm": _l("Customer service will call you to confirm the service time."),
    "Task_OwnerConfirmTime": _l("Please confirm the proposed visit time, or ask for another."),
    "Task_Reschedule": _l("Customer service is arranging another visit time."),
    "Task_Dispatch": _l("A technician is being assigned."),
    "Task_WorkPlumbing": _l("The technician is doing the work."),
    "Task_WorkElectrical": _l("The technician is doing the work."),
    "Task_WorkFacility": _l("The technician is doing the work."),
    "Task_WorkCleaning": _l("The technician is doing the work."),
    "Task_WorkGeneral": _l("The technician is doing the work."),
    "Task_Record": _l("The technician is writing the service record."),
    "Task_Acceptance": _l("Please check the work and accept it, or ask for rework."),
    "Task_Dispute": _l("A service supervisor is resolving your objection to the work."),
    "Task_Rate": _l("Please rate the service."),
    "Task_FollowUp": _l("Customer service will call you about your rating."),
}
_ENDED = {
    "EndEvent_Closed": _l("Completed and rated. Thank you."),
    "EndEvent_Rejected": _l("Not taken on: see the reason below."),
    "EndEvent_Unrated": _l("Completed; closed without a rating."),
    "EndEvent_FollowedUp": _l("Completed; we have followed up on your rating. Thank you."),
}
_ESCALATIONS = {"Task_ResponseOverdue", "Task_HandlingOverdue"}


@dataclass(frozen=True)
class CaseStatus:
    text: str
    handler: str | None
    response_due: datetime | None
    handling_due: datetime | None
    finished: bool


def new_business_key(now: datetime) -> str:
    return f"SR-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


def describe(instance: InstanceView) -> CaseStatus:
    """The case as the owner should read it: what happens next and who does it."""
    text, work = owner_tasks.plain_status(instance, _WAITING_FOR, _ENDED, _l("Completed."),
                                          side_tasks=_ESCALATIONS)
    response, handling = instance.deadline("response"), instance.deadline("handling")
    handler = work[0].assignee if work else None
    if handler is not None and handler == instance.variables.get("owner_id"):
        handler = None  # the owner's own step: nobody else is handling it
    return CaseStatus(
        text=text, handler=handler,
        response_due=response.due_at if response else None,
        handling_due=handling.due_at if handling else None,
        finished=instance.status != InstanceStatus.RUNNING)


def submit(engine: WorkflowEngine, *, values: dict, photos: list[uploads.CheckedPhoto], user: str,
           now: datetime, business_key: str | None = None) -> InstanceView:
    """Start a request with its photos; the files and the case exist together or not at all.

    :raise InvalidTaskData: the start form refused the values (nothing stored).
    :raise OSError: the photos could not be written (nothing started).
    """
    written = uploads.store(photos)
    business_key = business_key or new_business_key(now)

    def rows(instance_id: str) -> list:
        case = ServiceCase(
            instance_id=instance_id, business_key=business_key, owner_id=values["owner_id"],
            channel=values["channel"], service_type=values["service_type"],
            building=values["building"], unit=values["unit"], submitted_by=user, submitted_at=now)
        return [case, *uploads.attachment_rows(written, instance_id, user, now)]

    try:
        return engine.start(PROCESS, values, business_key=business_key, user=user, extra_rows=rows)
    except BaseException:
        uploads.discard(stored for _, stored in written)
        raise
