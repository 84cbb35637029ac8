"""Service-task functions for the quality flows: what the diagrams ask the application to
do (pick a sample, start a rectification). They run inside the engine's transaction."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select

from engine import InstanceStatus, InvalidTaskData, ServiceCall
from engine.models import ProcessInstance

from . import workflow_engine
from .extensions import db
from .models import ServiceCase, User

SAMPLE_SIZE = 5
SAMPLE_WINDOW = timedelta(days=7)
# The work was done and accepted (whatever the owner then said about it).
SERVED_ENDS = ("EndEvent_Closed", "EndEvent_Unrated", "EndEvent_FollowedUp")


def pick_spot_check_sample(call: ServiceCall) -> dict:
    """Up to five requests served in the last week, picked at random (seeded by the check,
    so a re-run of the same check picks the same ones)."""
    since = workflow_engine().clock.now() - SAMPLE_WINDOW
    served = list(db.session.scalars(
        select(ServiceCase.business_key)
        .join(ProcessInstance, ProcessInstance.id == ServiceCase.instance_id)
        .where(ProcessInstance.status == InstanceStatus.COMPLETED,
               ProcessInstance.end_event_id.in_(SERVED_ENDS), ProcessInstance.ended_at >= since)
        .order_by(ServiceCase.business_key)))
    chosen = random.Random(call.business_key or call.instance_id).sample(
        served, min(SAMPLE_SIZE, len(served)))
    return {"sample": sorted(chosen), "sample_size": len(chosen)}


def start_rectification_from_check(call: ServiceCall) -> dict:
    """A failed check becomes a rectification for the person the inspector named.

    :raise InvalidTaskData: on ``responsible`` when no active staff member has that name,
        so the inspector sees it on the form and nothing is started.
    """
    found = call.variables
    responsible = db.session.scalar(select(User).where(User.username == found.get("responsible")))
    if responsible is None or not responsible.active or not responsible.is_staff:
        raise InvalidTaskData({"responsible": ["is not an active staff member's username"]})
    rectification = call.start("rectification", {
        "problem": found["findings"], "source": "spot_check", "source_reference": found["item"],
        "responsible": responsible.username, "deadline": found["rectify_by"],
    }, business_key=f"RC-{found['item']}-{secrets.token_hex(2).upper()}")
    return {"last_rectification": rectification}


SERVICES = {
    "propflow.spot_check.sample": pick_spot_check_sample,
    "propflow.spot_check.rectify": start_rectification_from_check,
}
