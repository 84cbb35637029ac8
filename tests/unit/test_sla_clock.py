"""The worklist's SLA clock: colour from the share of the window used, from recorded times."""

from datetime import UTC, datetime, timedelta

import pytest

from engine.forms import FormDefinition
from engine.views import TaskView
from web.worklist import SlaClock

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def task(due_hours: float | None) -> TaskView:
    return TaskView(
        id="t", instance_id="i", business_key="SR-1", process_key="p", definition_id="d",
        element_id="e", name="n", lane=None, documentation="", assignee=None,
        candidate_groups=(), candidate_users=(),
        due_at=START + timedelta(hours=due_hours) if due_hours is not None else None,
        created_at=START + timedelta(hours=1), form=FormDefinition(), instance_started_at=START)


@pytest.mark.parametrize(("elapsed", "level"), [
    (0, "ok"), (11.9, "ok"), (12, "half"), (17.9, "half"), (18, "late"), (23.9, "late"),
    (24, "breached"), (30, "breached"),
])
def test_levels_follow_the_window_from_submission(elapsed, level):
    clock = SlaClock.of(task(24), START + timedelta(hours=elapsed))
    assert clock.level == level
    assert clock.seconds_left == pytest.approx((24 - elapsed) * 3600)


def test_no_due_time_no_clock():
    assert SlaClock.of(task(None), START).level == "none"
