"""Demo training (E-3, D-1): two past sessions with recorded results (one corrected), a
training need for the technician who failed, and the upcoming retake that addresses it.
Loading twice adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from engine import WorkflowEngine

from .i18n import company_zone
from .models import TrainingSession
from .training_records import (
    PROCESS,
    ResultInput,
    company_today,
    plan_session,
    record_results,
)

COURTESY = "客户沟通礼仪 Courteous communication with owners"
SAFETY = "电气安全操作规程 Electrical safety procedure"
RETAKE = "电气安全补训 Electrical safety retake"


def load(engine: WorkflowEngine) -> Iterator[str]:
    with engine.read_session() as session:
        if session.scalar(select(func.count()).select_from(TrainingSession)):
            yield "demo training already present"
            return
    today = company_today(engine.clock.now())

    def at(days: int, hour: int) -> datetime:
        return datetime.combine(today + timedelta(days=days), time(hour), company_zone())

    courtesy = _plan(engine, COURTESY, None, at(-21, 14), "mgr_wu", ["cs_zhang", "tech_chen", "tech_liu"])
    _record(engine, courtesy, {
        "cs_zhang": ResultInput(attended=True, assessment_score=92, passed=True),
        "tech_chen": ResultInput(attended=True, assessment_score=78, passed=True),
        "tech_liu": ResultInput(attended=False, comment="外出维修 On an emergency call")}, "sup_zhao")
    remarked = ResultInput(attended=True, assessment_score=80, passed=True,
                           reason="复核试卷，漏计一题 Paper re-marked: one answer missed")
    _record(engine, courtesy, {"tech_chen": remarked}, "mgr_wu")
    safety = _plan(engine, SAFETY, "electrical", at(-10, 9), "外聘讲师 李工 Li (external)",
                   ["tech_chen", "tech_liu"])
    _record(engine, safety, {
        "tech_chen": ResultInput(attended=True, assessment_score=88, passed=True),
        "tech_liu": ResultInput(attended=True, assessment_score=55, passed=False,
                                comment="带电作业步骤不熟 Unsure of live-work steps")}, "sup_zhao")
    need = engine.start(PROCESS, {
        "staff": "tech_liu", "topic": RETAKE, "skill": "electrical",
        "due": (today + timedelta(days=30)).isoformat(),
        "reason": "电气安全考核未通过（55 分） Failed the electrical safety assessment (55)"},
        business_key="training_need-DEMO-1", user="mgr_wu")
    retake = _plan(engine, RETAKE, "electrical", at(7, 14), "mgr_wu", [],
                   need_ids=[need.variables["training_need"]])
    yield f"demo training: sessions {courtesy}, {safety} (past), {retake} (upcoming); need for tech_liu"


def _plan(engine: WorkflowEngine, topic: str, skill: str | None, starts_at: datetime, trainer: str,
          attendees: list[str], need_ids: tuple[int, ...] | list[int] = ()) -> int:
    return engine.transaction(lambda tx: plan_session(
        tx.session, topic=topic, skill=skill, starts_at=starts_at, hours=2,
        location="物业服务中心 Service centre", trainer=trainer, description=None, attendees=attendees,
        need_ids=need_ids, by="mgr_wu", now=tx.now).id, user="mgr_wu")


def _record(engine: WorkflowEngine, session_id: int, entries: dict[str, ResultInput], by: str) -> None:
    engine.transaction(lambda tx: record_results(tx, session_id, entries, by=by), user=by)
