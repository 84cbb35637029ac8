"""Service-quality analysis (R-3.3): the figures managers look at, counted by SQL over the
recorded facts — cases and who was dispatched (``service_case``), deadlines met or breached
(``deadline``), scores (``satisfaction_score``), feedback (``feedback_item``) and the
rectification instances themselves.

A period is a range of calendar days in the company's time zone; weeks start on Monday.
Filters narrow the request figures; the ones a fact does not carry (a survey answer has no
technician) leave that fact out rather than count it unfiltered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from engine import InstanceStatus
from engine.models import Deadline, ProcessInstance

from .models import FeedbackItem, SatisfactionScore, ServiceCase

TARGETS = {"response": 100.0, "emergency": 100.0, "satisfaction": 90.0}
SATISFIED_FROM = 4  # a score of 4 or 5 counts as satisfied (S-3)
MAX_DAYS = 366
AGE_BUCKETS = ((7, "0-7"), (30, "8-30"), (None, "31+"))
FEEDBACK_CATEGORIES = ("complaint", "suggestion", "praise", "inquiry")


@dataclass(frozen=True)
class Filters:
    service_type: str | None = None
    building: str | None = None
    technician: str | None = None
    channel: str | None = None

    @property
    def request_only(self) -> bool:
        """Filters only a service request carries: survey answers drop out under them."""
        return bool(self.service_type or self.technician or self.channel)

    def cases(self) -> list:
        pairs = ((self.service_type, ServiceCase.service_type), (self.building, ServiceCase.building),
                 (self.technician, ServiceCase.technician), (self.channel, ServiceCase.channel))
        return [column == value for value, column in pairs if value]


@dataclass(frozen=True)
class Period:
    """Calendar days ``first`` … ``last`` inclusive, in ``zone``."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return self._midnight(self.first)

    @property
    def end(self) -> datetime:
        return self._midnight(self.last + timedelta(days=1))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.zone).astimezone(ZoneInfo("UTC"))

    def weeks(self) -> list[date]:
        """The Mondays of the weeks the period touches."""
        monday = self.first - timedelta(days=self.first.weekday())
        return [monday + timedelta(weeks=n) for n in range((self.last - monday).days // 7 + 1)]

    def week_bounds(self) -> list[datetime]:
        """UTC instants between the weeks (the first week starts at the period's start)."""
        return [self._midnight(monday) for monday in self.weeks()[1:]]


@dataclass(frozen=True)
class Rate:
    """``hit`` of ``total`` against a target percentage; no percentage without a total."""

    hit: int
    total: int
    target: float

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.hit / self.total, 1) if self.total else None

    @property
    def on_target(self) -> bool | None:
        return None if self.percent is None else self.percent >= self.target


@dataclass(frozen=True)
class Week:
    monday: date
    received: int
    response: Rate
    satisfaction: Rate
    breaches: int


@dataclass(frozen=True)
class OpenRectification:
    business_key: str | None
    started_at: datetime
    age_days: int
    overdue: bool


@dataclass
class Report:
    period: Period
    filters: Filters
    received: int = 0
    closed: int = 0
    response: Rate = field(default_factory=lambda: Rate(0, 0, TARGETS["response"]))
    emergency: Rate = field(default_factory=lambda: Rate(0, 0, TARGETS["emergency"]))
    satisfaction: Rate = field(default_factory=lambda: Rate(0, 0, TARGETS["satisfaction"]))
    average_score: float | None = None
    scores: dict[int, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)
    rectifications: list[OpenRectification] = field(default_factory=list)
    rectification_ages: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str, int]] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)

    @property
    def low_scores(self) -> int:
        return sum(n for score, n in self.scores.items() if score < SATISFIED_FROM)

    @property
    def overdue_rectifications(self) -> int:
        return sum(1 for r in self.rectifications if r.overdue)


def report(session: Session, period: Period, filters: Filters, now: datetime) -> Report:
    """Every figure of the dashboard for one period and set of filters."""
    result = Report(period, filters)
    result.received = _count_cases(session, period, filters)
    result.closed = session.scalar(
        select(func.count()).select_from(ServiceCase)
        .join(ProcessInstance, ProcessInstance.id == ServiceCase.instance_id)
        .where(ProcessInstance.status == InstanceStatus.COMPLETED,
               ProcessInstance.ended_at >= period.start, ProcessInstance.ended_at < period.end,
               *filters.cases()))
    result.response = _deadline_rate(session, period, filters, "response")
    result.emergency = _deadline_rate(session, period, filters, "handling",
                                      ServiceCase.priority == "emergency", target="emergency")
    result.scores = dict(session.execute(
        select(SatisfactionScore.score, func.count()).where(*_score_conditions(period, filters))
        .group_by(SatisfactionScore.score)).all())
    total = sum(result.scores.values())
    satisfied = sum(n for score, n in result.scores.items() if score >= SATISFIED_FROM)
    result.satisfaction = Rate(satisfied, total, TARGETS["satisfaction"])
    if total:
        result.average_score = round(sum(s * n for s, n in result.scores.items()) / total, 2)
    result.breaches = dict(session.execute(
        _cases_with_deadline(select(Deadline.name, func.count()), filters)
        .where(Deadline.breached_at >= period.start, Deadline.breached_at < period.end)
        .group_by(Deadline.name)).all())
    result.rectifications = _open_rectifications(session, period, now)
    result.rectification_ages = _ages(result.rectifications)
    result.feedback = _feedback(session, period, filters)
    result.problems = _recurring_problems(session, period, filters)
    result.weeks = _weeks(session, period, filters)
    return result


def _count_cases(session: Session, period: Period, filters: Filters) -> int:
    return session.scalar(select(func.count()).select_from(ServiceCase).where(
        ServiceCase.submitted_at >= period.start, ServiceCase.submitted_at < period.end,
        *filters.cases()))


def _cases_with_deadline(query, filters: Filters):
    return (query.select_from(Deadline).join(ServiceCase, ServiceCase.instance_id == Deadline.instance_id)
            .where(*filters.cases()))


def _deadline_rate(session: Session, period: Period, filters: Filters, name: str, *extra,
                   target: str | None = None) -> Rate:
    """Deadlines of requests received in the period that are decided (met or breached)."""
    hit, total = session.execute(
        _cases_with_deadline(select(func.count(case((Deadline.met.is_(True), 1))), func.count()), filters)
        .where(Deadline.name == name, Deadline.met.is_not(None),
               ServiceCase.submitted_at >= period.start, ServiceCase.submitted_at < period.end, *extra)
    ).one()
    return Rate(hit, total, TARGETS[target or name])


def _score_conditions(period: Period, filters: Filters) -> list:
    conditions = [SatisfactionScore.recorded_at >= period.start, SatisfactionScore.recorded_at < period.end]
    if filters.building:
        conditions.append(SatisfactionScore.building == filters.building)
    if filters.request_only:
        cases = select(ServiceCase.instance_id).where(*filters.cases())
        conditions += [SatisfactionScore.kind == "request", SatisfactionScore.instance_id.in_(cases)]
    return conditions


def _open_rectifications(session: Session, period: Period, now: datetime) -> list[OpenRectification]:
    """Rectifications open at the end of the period (or now, if that is sooner), oldest first."""
    until = min(now, period.end)
    overdue = and_(Deadline.breached_at.is_not(None), Deadline.breached_at <= until)
    rows = session.execute(
        select(ProcessInstance.business_key, ProcessInstance.started_at, overdue)
        .outerjoin(Deadline, and_(Deadline.instance_id == ProcessInstance.id,
                                  Deadline.name == "rectification"))
        .where(ProcessInstance.process_key == "rectification", ProcessInstance.started_at < until,
               (ProcessInstance.ended_at.is_(None)) | (ProcessInstance.ended_at >= until),
               ProcessInstance.status != InstanceStatus.CANCELLED)
        .order_by(ProcessInstance.started_at)).all()
    return [OpenRectification(key, started, (until - started).days, bool(late))
            for key, started, late in rows]


def _ages(rectifications: list[OpenRectification]) -> dict[str, int]:
    ages = {label: 0 for _, label in AGE_BUCKETS}
    for item in rectifications:
        label = next(label for limit, label in AGE_BUCKETS if limit is None or item.age_days <= limit)
        ages[label] += 1
    return ages


def _feedback(session: Session, period: Period, filters: Filters) -> dict[str, int]:
    if filters.service_type or filters.technician:
        return {}  # feedback is not about one service type or technician
    conditions = [FeedbackItem.received_at >= period.start, FeedbackItem.received_at < period.end]
    if filters.channel:
        conditions.append(FeedbackItem.channel == filters.channel)
    if filters.building:
        conditions.append(FeedbackItem.building == filters.building)
    counted = dict(session.execute(
        select(func.coalesce(FeedbackItem.category, "unclassified"), func.count())
        .where(*conditions).group_by(FeedbackItem.category)).all())
    return {category: counted.get(category, 0) for category in (*FEEDBACK_CATEGORIES, "unclassified")
            if category in FEEDBACK_CATEGORIES or counted.get(category)}


def _recurring_problems(session: Session, period: Period, filters: Filters,
                        limit: int = 5) -> list[tuple[str, str, int]]:
    """The same kind of request from the same building, more than once in the period."""
    count = func.count()
    rows = session.execute(
        select(ServiceCase.service_type, ServiceCase.building, count)
        .where(ServiceCase.submitted_at >= period.start, ServiceCase.submitted_at < period.end,
               *filters.cases())
        .group_by(ServiceCase.service_type, ServiceCase.building).having(count >= 2)
        .order_by(count.desc(), ServiceCase.service_type, ServiceCase.building).limit(limit)).all()
    return [tuple(row) for row in rows]


def _week_of(column, period: Period):
    """SQL: the 0-based week of the period a timestamp falls in (portable: no date functions)."""
    bounds = period.week_bounds()
    if not bounds:
        return case((column.is_not(None), 0))
    return case(*((column < bound, n) for n, bound in enumerate(bounds)), else_=len(bounds))


def _weeks(session: Session, period: Period, filters: Filters) -> list[Week]:
    in_period = (ServiceCase.submitted_at >= period.start, ServiceCase.submitted_at < period.end)
    week = _week_of(ServiceCase.submitted_at, period)
    received = dict(session.execute(
        select(week, func.count()).where(*in_period, *filters.cases()).group_by(week)).all())
    met = func.count(case((Deadline.met.is_(True), 1)))
    response = {n: (hit, total) for n, hit, total in session.execute(
        _cases_with_deadline(select(week, met, func.count()), filters)
        .where(Deadline.name == "response", Deadline.met.is_not(None), *in_period).group_by(week)).all()}
    breached_week = _week_of(Deadline.breached_at, period)
    breaches = dict(session.execute(
        _cases_with_deadline(select(breached_week, func.count()), filters)
        .where(Deadline.breached_at >= period.start, Deadline.breached_at < period.end)
        .group_by(breached_week)).all())
    scored_week = _week_of(SatisfactionScore.recorded_at, period)
    scores = {n: (hit, total) for n, hit, total in session.execute(
        select(scored_week, func.count(case((SatisfactionScore.score >= SATISFIED_FROM, 1))), func.count())
        .where(*_score_conditions(period, filters)).group_by(scored_week)).all()}
    return [Week(monday, received.get(n, 0), Rate(*response.get(n, (0, 0)), TARGETS["response"]),
                 Rate(*scores.get(n, (0, 0)), TARGETS["satisfaction"]), breaches.get(n, 0))
            for n, monday in enumerate(period.weeks())]
