"""Training (E-3, D-1) as records: sessions and who is to attend, attendance and assessment
results with their corrections, and training needs tracked to completion.

Plain functions over a database session; the views in :mod:`web.training` and the service
tasks below call them. A recorded result is never overwritten: a change is a ``Correction``
row (A-2) and readers show the corrected value beside the original. Recording a passed
result closes the needs linked to that session and tells each need's ``training_need``
instance (message ``TrainingCompleted``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import InvalidTaskData, MessageNotCorrelated, ServiceCall, Transaction

from .i18n import company_zone
from .models import (
    Correction,
    Role,
    TrainingAttendance,
    TrainingNeed,
    TrainingSession,
    User,
    UserRole,
)
from .quality import active_staff
from .service_requests import SERVICE_TYPES

PROCESS = "training_need"
COMPLETED_MESSAGE = "TrainingCompleted"
RECORD_TYPE = "training_attendance"
DEFAULT_DUE = timedelta(days=30)
TOPIC_MAX, REASON_MAX, COMMENT_MAX = 200, 2000, 1000
# Who takes training: the people who serve owners and run the office (not owners, not
# administrators' or external workers' accounts).
TRAINEE_ROLES = (Role.CUSTOMER_SERVICE, Role.SERVICE_SUPERVISOR, Role.TECHNICIAN, Role.QUALITY_REVIEWER,
                 Role.PROCESS_OWNER, Role.MANAGER)
# The fields of a result, in the order a person reads them; all may be corrected.
RESULT_FIELDS = ("attended", "assessment_score", "passed", "comment")
_SOURCES = {"appraisal": "appraisal", "spot_check": "spot_check"}


def company_today(now: datetime) -> date:
    return now.astimezone(company_zone()).date()


# --- what readers get ---------------------------------------------------------------------

@dataclass(frozen=True)
class CorrectionView:
    field: str
    original: str | None
    corrected: str | None
    reason: str
    author: str
    at: datetime


@dataclass(frozen=True)
class Result:
    """One attendee's result as it stands: the recorded values with every correction applied
    in order (``corrections`` keeps the originals)."""

    session_id: int
    username: str
    attended: bool | None = None
    assessment_score: int | None = None
    passed: bool | None = None
    comment: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None
    corrections: tuple[CorrectionView, ...] = ()

    @property
    def recorded(self) -> bool:
        return self.recorded_at is not None

    @property
    def corrected_fields(self) -> frozenset[str]:
        return frozenset(c.field for c in self.corrections)

    @property
    def completed(self) -> bool:
        """Attended and passed the assessment: what closes a training need."""
        return bool(self.attended and self.passed)


@dataclass(frozen=True)
class SessionEntry:
    """One session in a person's history, with their result."""

    session_id: int
    topic: str
    skill: str | None
    starts_at: datetime
    hours: float
    location: str | None
    trainer: str
    result: Result


@dataclass(frozen=True)
class NeedView:
    id: int
    username: str
    topic: str
    skill: str | None
    reason: str
    source: str
    source_reference: str | None
    due: date
    raised_by: str
    raised_at: datetime
    instance_id: str | None
    session_id: int | None
    completed_at: datetime | None

    def overdue(self, today: date) -> bool:
        return self.completed_at is None and self.due < today


@dataclass(frozen=True)
class TrainingHistory:
    """A person's training: every session they were invited to (newest first) with their
    result, and their training needs, open (soonest due first) and closed."""

    username: str
    sessions: tuple[SessionEntry, ...]
    open_needs: tuple[NeedView, ...]
    closed_needs: tuple[NeedView, ...]

    @property
    def attended(self) -> tuple[SessionEntry, ...]:
        return tuple(s for s in self.sessions if s.result.attended)


def need_view(row: TrainingNeed) -> NeedView:
    return NeedView(row.id, row.username, row.topic, row.skill, row.reason, row.source, row.source_reference,
                    row.due, row.raised_by, row.raised_at, row.instance_id, row.session_id, row.completed_at)


def history(session: Session, username: str) -> TrainingHistory:
    """``username``'s training history (sessions with results, open and closed needs).
    Callers decide who may see it (:func:`web.authz.may_see_staff_record`)."""
    rows = session.execute(
        select(TrainingAttendance, TrainingSession)
        .join(TrainingSession, TrainingSession.id == TrainingAttendance.session_id)
        .where(TrainingAttendance.username == username)
        .order_by(TrainingSession.starts_at.desc(), TrainingSession.id.desc())).all()
    corrections = _corrections(session, [_key(a.session_id, a.username) for a, _ in rows])
    sessions = tuple(
        SessionEntry(s.id, s.topic, s.skill, s.starts_at, s.hours, s.location, s.trainer,
                     _result(a, corrections.get(_key(a.session_id, a.username), ())))
        for a, s in rows)
    needs = [need_view(n) for n in session.scalars(
        select(TrainingNeed).where(TrainingNeed.username == username)
        .order_by(TrainingNeed.due, TrainingNeed.id))]
    return TrainingHistory(username, sessions, tuple(n for n in needs if n.completed_at is None),
                           tuple(sorted((n for n in needs if n.completed_at is not None),
                                        key=lambda n: n.completed_at, reverse=True)))


def session_results(session: Session, training: TrainingSession) -> dict[str, Result]:
    """Every invited person's result at ``training``, by username."""
    corrections = _corrections(session, [_key(training.id, a.username) for a in training.attendance])
    return {a.username: _result(a, corrections.get(_key(training.id, a.username), ()))
            for a in training.attendance}


def open_needs(session: Session, *, topic: str | None = None, skill: str | None = None) -> list[NeedView]:
    """Training needs not yet completed, soonest due first."""
    query = select(TrainingNeed).where(TrainingNeed.completed_at.is_(None))
    if topic:
        query = query.where(TrainingNeed.topic.icontains(topic, autoescape=True))
    if skill:
        query = query.where(TrainingNeed.skill == skill)
    return [need_view(n) for n in session.scalars(query.order_by(TrainingNeed.due, TrainingNeed.id))]


def linked_needs(session: Session, session_id: int) -> list[NeedView]:
    """The needs a session addresses (open or closed by it)."""
    return [need_view(n) for n in session.scalars(
        select(TrainingNeed).where(TrainingNeed.session_id == session_id).order_by(TrainingNeed.id))]


def trainees(session: Session) -> list[User]:
    """Active staff who may be invited to training, by username."""
    return list(session.scalars(
        select(User).where(User.active.is_(True),
                           User.role_rows.any(UserRole.role.in_([r.value for r in TRAINEE_ROLES])))
        .order_by(User.username)))


def _key(session_id: int, username: str) -> str:
    return f"{session_id}:{username}"


def _corrections(session: Session, keys: list[str]) -> dict[str, tuple[CorrectionView, ...]]:
    found: dict[str, list[CorrectionView]] = {}
    if keys:
        for row in session.scalars(select(Correction).where(
                Correction.record_type == RECORD_TYPE, Correction.record_key.in_(keys))
                .order_by(Correction.id)):
            found.setdefault(row.record_key, []).append(CorrectionView(
                row.field or "", row.original, row.corrected, row.reason, row.author, row.at))
    return {key: tuple(items) for key, items in found.items()}


def _result(row: TrainingAttendance, corrections: Iterable[CorrectionView]) -> Result:
    values = {name: getattr(row, name) for name in RESULT_FIELDS}
    corrections = tuple(corrections)
    for correction in corrections:
        if correction.field in values:
            values[correction.field] = _parse(correction.field, correction.corrected)
    return Result(row.session_id, row.username, recorded_by=row.recorded_by, recorded_at=row.recorded_at,
                  corrections=corrections, **values)


def _text(value: bool | int | str | None) -> str | None:
    """A result value as a correction stores it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(name: str, text: str | None) -> bool | int | str | None:
    if text is None:
        return None
    if name in ("attended", "passed"):
        return text == "true"
    if name == "assessment_score":
        return int(text)
    return text


# --- planning --------------------------------------------------------------------------------

def plan_session(session: Session, *, topic: str, skill: str | None, starts_at: datetime, hours: float,
                 location: str | None, trainer: str, description: str | None, attendees: Iterable[str],
                 need_ids: Iterable[int], by: str, now: datetime) -> TrainingSession:
    """A new session with its attendees; each open need it addresses is linked to it and
    its person invited. Usernames and needs were checked by the caller's form."""
    needs = list(session.scalars(select(TrainingNeed).where(
        TrainingNeed.id.in_(list(need_ids)), TrainingNeed.completed_at.is_(None))))
    people = sorted(set(attendees) | {n.username for n in needs})
    training = TrainingSession(topic=topic, skill=skill or None, starts_at=starts_at, hours=hours,
                               location=location or None, trainer=trainer, description=description or None,
                               created_by=by, created_at=now,
                               attendance=[TrainingAttendance(username=u) for u in people])
    session.add(training)
    session.flush()
    for need in needs:
        need.session_id = training.id
    return training


# --- recording results ---------------------------------------------------------------------

@dataclass(frozen=True)
class ResultInput:
    """What the organiser entered for one attendee; ``reason`` explains a correction."""

    attended: bool | None = None
    assessment_score: int | None = None
    passed: bool | None = None
    comment: str | None = None
    reason: str | None = None

    def values(self) -> dict[str, bool | int | str | None]:
        return {"attended": self.attended, "assessment_score": self.assessment_score,
                "passed": self.passed, "comment": (self.comment or "").strip() or None}

    @property
    def blank(self) -> bool:
        return all(v is None for v in self.values().values())


@dataclass(frozen=True)
class Recorded:
    """What one recording changed: results recorded, fields corrected, needs closed."""

    recorded: tuple[str, ...] = ()
    corrected: tuple[tuple[str, str], ...] = ()
    closed_needs: tuple[int, ...] = field(default=())


def result_problems(values: Mapping[str, bool | int | str | None]) -> dict[str, list[str]]:
    """A result's own rules: attendance is said; who attended has a score (0–100) and a
    pass or fail; who did not attend neither has a score nor passed."""
    problems: dict[str, list[str]] = {}
    if values["attended"] is None:
        problems["attended"] = ["is required"]
    elif values["attended"]:
        if values["assessment_score"] is None:
            problems["assessment_score"] = ["is required when the person attended"]
        if values["passed"] is None:
            problems["passed"] = ["is required when the person attended"]
    else:
        if values["passed"]:
            problems["passed"] = ["cannot be yes for someone who did not attend"]
        if values["assessment_score"] is not None:
            problems["assessment_score"] = ["must be empty for someone who did not attend"]
    score = values["assessment_score"]
    if isinstance(score, int) and not 0 <= score <= 100:
        problems.setdefault("assessment_score", []).append("must be between 0 and 100")
    if len(values["comment"] or "") > COMMENT_MAX:
        problems["comment"] = [f"must be at most {COMMENT_MAX} characters"]
    return problems


def record_results(tx: Transaction, session_id: int, entries: Mapping[str, ResultInput], *,
                   by: str) -> Recorded:
    """Record results at session ``session_id``, by username: a first result is written on
    the attendance row; a change to a recorded one needs a reason and becomes one
    ``Correction`` per changed field. Then every need linked to the session whose person now
    has a passed result is closed and its instance told (``TrainingCompleted``).

    :raise InvalidTaskData: keyed ``<username>__<field>``; nothing is written.
    """
    training = tx.session.get(TrainingSession, session_id)
    rows = {a.username: a for a in training.attendance}
    current = session_results(tx.session, training)
    errors: dict[str, list[str]] = {}
    planned = []
    for username, entry in sorted(entries.items()):
        if username not in rows:
            errors[f"{username}__attended"] = ["is not invited to this session"]
            continue
        changed, problems = _changes(current[username], entry)
        errors.update({f"{username}__{name}": messages for name, messages in problems.items()})
        if changed:
            planned.append((username, entry, changed))
    if errors:
        raise InvalidTaskData(errors)
    recorded, corrected = [], []
    for username, entry, changed in planned:
        before, new = current[username], entry.values()
        if before.recorded:
            for name in changed:
                _correct(tx, _key(session_id, username), username, name, getattr(before, name), new[name],
                         entry.reason.strip(), by)
            corrected.extend((username, name) for name in changed)
        else:
            row = rows[username]
            for name, value in new.items():
                setattr(row, name, value)
            row.recorded_by, row.recorded_at = by, tx.now
            recorded.append(username)
    tx.session.flush()
    # Everyone who passed, not only those just recorded: a pass corrected elsewhere (the
    # archive's correction page) closes its need the next time results are saved here.
    done = {u for u, r in session_results(tx.session, training).items() if r.completed}
    return Recorded(tuple(recorded), tuple(corrected), close_needs(tx, training, done))


def _changes(before: Result, entry: ResultInput) -> tuple[list[str], dict[str, list[str]]]:
    """The fields recording ``entry`` over ``before`` would set or correct (none: nothing to
    do), and what is wrong with it."""
    new = entry.values()
    if not before.recorded:
        return ([], {}) if entry.blank else (list(RESULT_FIELDS), result_problems(new))
    changed = [name for name in RESULT_FIELDS if new[name] != getattr(before, name)]
    if not changed:
        return [], {}
    problems = result_problems(new)
    if not (entry.reason or "").strip():
        problems["reason"] = ["is required to change a recorded result"]
    return changed, problems


def _correct(tx: Transaction, key: str, username: str, name: str, original, corrected, reason: str,
             by: str) -> None:
    """One correction (the record keeps its value) and its ``annotated`` audit entry."""
    row = Correction(record_type=RECORD_TYPE, record_key=key, subject=username, field=name,
                     original=_text(original), corrected=_text(corrected), reason=reason, author=by,
                     at=tx.now)
    tx.session.add(row)
    tx.session.flush()
    tx.annotate({"record_type": RECORD_TYPE, "record_key": key, "field": name, "original": row.original,
                 "corrected": row.corrected, "reason": reason, "correction_id": row.id})


def close_needs(tx: Transaction, training: TrainingSession, usernames: set[str]) -> tuple[int, ...]:
    """Close the open needs linked to ``training`` of people who passed it, and deliver
    ``TrainingCompleted`` to each need's waiting instance (one that no longer waits, say
    cancelled by an administrator, is left as it is)."""
    if not usernames:
        return ()
    needs = tx.session.scalars(select(TrainingNeed).where(
        TrainingNeed.session_id == training.id, TrainingNeed.completed_at.is_(None),
        TrainingNeed.username.in_(sorted(usernames))).order_by(TrainingNeed.id)).all()
    for need in needs:
        need.completed_at = tx.now
        if need.instance_id is not None:
            with suppress(MessageNotCorrelated):
                tx.deliver(COMPLETED_MESSAGE, instance_id=need.instance_id,
                           variables={"training_session": training.id})
    return tuple(n.id for n in needs)


# --- service tasks --------------------------------------------------------------------------

def _required_text(values: Mapping, name: str, limit: int, errors: dict) -> str:
    text = str(values.get(name) or "").strip()
    if not text:
        errors[name] = ["is required"]
    elif len(text) > limit:
        errors[name] = [f"must be at most {limit} characters"]
    return text


def _due(value: object, today: date, name: str, errors: dict) -> date:
    if value in (None, ""):
        return today + DEFAULT_DUE
    try:
        due = date.fromisoformat(str(value)[:10])
    except ValueError:
        errors[name] = ["must be a date such as 2026-05-31"]
        return today
    if due < today:
        errors[name] = ["must not be before today"]
    return due


def _skill(value: object, name: str, errors: dict) -> str | None:
    if value in (None, ""):
        return None
    if value not in SERVICE_TYPES:
        errors[name] = [f"must be one of: {', '.join(SERVICE_TYPES)}"]
        return None
    return str(value)


def require_training(call: ServiceCall) -> dict:
    """``propflow.training.require``: an appraisal or a spot check found a gap. Records a
    training need for ``training_for`` and starts its ``training_need`` instance (business
    key ``TN-<id>``) in this transaction; returns ``{"training_need": id}``.

    :raise InvalidTaskData: on ``training_for`` (not an active staff member),
        ``training_topic``, ``training_reason``, ``training_skill`` or ``training_due``.
    """
    found = call.variables
    person = active_staff(call.session, found.get("training_for"), "training_for")
    errors: dict[str, list[str]] = {}
    topic = _required_text(found, "training_topic", TOPIC_MAX, errors)
    reason = _required_text(found, "training_reason", REASON_MAX, errors)
    skill = _skill(found.get("training_skill"), "training_skill", errors)
    due = _due(found.get("training_due"), company_today(call.now), "training_due", errors)
    if errors:
        raise InvalidTaskData(errors)
    need = TrainingNeed(username=person.username, topic=topic, skill=skill, reason=reason,
                        source=_SOURCES.get(call.process_key, "manager"), source_reference=call.business_key,
                        due=due, raised_by=call.actor or "system", raised_at=call.now)
    call.session.add(need)
    call.session.flush()
    variables = {"staff": person.username, "topic": topic, "reason": reason, "due": due.isoformat()}
    # The instance exists (flushed) once start returns: only then may the need point at it.
    need.instance_id = call.start(PROCESS, {**variables, **({"skill": skill} if skill else {})},
                                  business_key=f"TN-{need.id}")
    return {"training_need": need.id}


def record_need(call: ServiceCall) -> dict:
    """``propflow.training.record_need``, the first step of ``training_need``: the need
    ``require_training`` recorded for this instance (business key ``TN-<id>``), or — when a
    manager started the process by hand — a new one (source "manager").

    :raise InvalidTaskData: on ``staff`` (not an active staff member) or ``due`` (past).
    """
    pending = _pending_need(call)
    if pending is not None:
        return {"training_need": pending.id}
    found = call.variables
    person = active_staff(call.session, found.get("staff"), "staff")
    errors: dict[str, list[str]] = {}
    due = _due(found.get("due"), company_today(call.now), "due", errors)
    skill = _skill(found.get("skill"), "skill", errors)
    if errors:
        raise InvalidTaskData(errors)
    need = TrainingNeed(username=person.username, topic=str(found["topic"]).strip(), skill=skill,
                        reason=str(found["reason"]).strip(), source="manager", source_reference=None,
                        due=due, raised_by=call.actor or found.get("started_by") or "system",
                        raised_at=call.now)
    call.session.add(need)
    call.session.flush()  # its id; the instance row is not written yet, so link it after
    # Written at the engine's save, after the new instance's row (engine tables flush first).
    need.instance_id = call.instance_id
    return {"training_need": need.id}


def close_need(call: ServiceCall) -> dict:
    """``propflow.training.close_need``, after ``TrainingCompleted`` arrived: the need is closed.
    Recording the passed result closed it already in the same transaction; a message sent
    another way (the REST API) closes it here, with the session the message names."""
    need = call.session.get(TrainingNeed, int(call.variables["training_need"]))
    if need is not None and need.completed_at is None:
        need.completed_at = call.now
        session_id = call.variables.get("training_session")
        if isinstance(session_id, int) and call.session.get(TrainingSession, session_id) is not None:
            need.session_id = session_id
    return {}


def _pending_need(call: ServiceCall) -> TrainingNeed | None:
    """The need ``require_training`` recorded and is starting this instance for."""
    key = call.business_key or ""
    if not key.startswith("TN-") or not key[3:].isdigit():
        return None
    need = call.session.get(TrainingNeed, int(key[3:]))
    return need if need is not None and need.instance_id is None else None


SERVICES = {
    "propflow.training.require": require_training,
    "propflow.training.record_need": record_need,
    "propflow.training.close_need": close_need,
}
