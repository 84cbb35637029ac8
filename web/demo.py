"""Demo data: the service-request process deployed and a few requests in different
states, so someone trying Propflow sees real work at once. Loading twice adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from engine import WorkflowEngine

from . import demo_training, service_requests
from .extensions import db
from .models import Role, User

PROCESS = service_requests.PROCESS
DEMO_PASSWORD = "propflow-demo"

# username, name, roles, skills, locale, phone, building, unit
DEMO_USERS = [
    ("admin", "系统管理员 Admin", [Role.ADMIN], [], "zh_CN", None, None, None),
    ("cs_zhang", "张晓 (客服)", [Role.CUSTOMER_SERVICE], [], "zh_CN", "0755-8000001", None, None),
    ("sup_zhao", "赵强 (服务主管)", [Role.SERVICE_SUPERVISOR], [], "zh_CN", "0755-8000002", None, None),
    ("tech_chen", "陈师傅 Chen", [Role.TECHNICIAN], ["plumbing", "electrical"], "zh_CN", None, None, None),
    ("tech_liu", "刘师傅 Liu", [Role.TECHNICIAN], ["facility", "cleaning", "other"], "zh_CN",
     None, None, None),
    ("owner_wang", "王建国", [Role.OWNER], [], "zh_CN", "13800000001", "3", "1201"),
    ("owner_li", "Li Mei 李梅", [Role.OWNER], [], "en", "13800000002", "5", "0302"),
    ("qa_sun", "孙质检 (质量审核)", [Role.QUALITY_REVIEWER], [], "zh_CN", None, None, None),
    ("po_zhou", "周流程 (流程负责人)", [Role.PROCESS_OWNER], [], "zh_CN", None, None, None),
    ("mgr_wu", "吴经理 Manager Wu", [Role.MANAGER], [], "en", None, None, None),
]

_OWNERS = {
    "owner_wang": {"owner_name": "王建国", "contact_phone": "13800000001", "building": "3", "unit": "1201"},
    "owner_li": {"owner_name": "Li Mei 李梅", "contact_phone": "13800000002", "building": "5",
                 "unit": "0302"},
}

# (business key, owner, channel, service type, description, steps to take)
_REQUESTS = [
    ("SR-DEMO-001", "owner_wang", "online", "plumbing",
     "卫生间水管漏水，地面有积水 Bathroom pipe is leaking, water on the floor", []),
    ("SR-DEMO-002", "owner_li", "phone", "electrical",
     "客厅插座没电 Living-room sockets have no power", ["register"]),
    ("SR-DEMO-003", "owner_wang", "on_site", "facility",
     "单元门禁读卡器失灵 Entrance card reader does not respond", ["register", "review", "confirm"]),
    ("SR-DEMO-004", "owner_li", "online", "cleaning",
     "楼道有装修垃圾需要清理 Renovation debris left in the stairwell",
     ["register", "review", "confirm", "dispatch", "work", "record"]),
    ("SR-DEMO-005", "owner_wang", "phone", "other",
     "阳台晾衣架松动 The balcony clothes rack is loose",
     ["register", "review", "confirm", "dispatch", "work", "record", "accept", "rate"]),
    ("SR-DEMO-006", "owner_li", "online", "other",
     "希望物业代收快递 Please accept parcels on my behalf", ["register", "reject"]),
]

_TECHNICIAN = {"plumbing": "tech_chen", "electrical": "tech_chen", "facility": "tech_liu",
               "cleaning": "tech_liu", "other": "tech_liu"}
_WORK_TASK = {"plumbing": "Task_WorkPlumbing", "electrical": "Task_WorkElectrical",
              "facility": "Task_WorkFacility", "cleaning": "Task_WorkCleaning",
              "other": "Task_WorkGeneral"}


def load(engine: WorkflowEngine, bpmn_dir: Path, *, history: bool = False) -> Iterator[str]:
    files = {p.name: p.read_bytes() for p in sorted(bpmn_dir.iterdir())
             if p.suffix in (".bpmn", ".dmn")}
    deployment = engine.deploy(files, name="Propflow processes", source="demo",
                               duplicate_filtering=True)
    for definition in deployment.definitions:
        yield f"{definition.key}: version {definition.version}"
    yield from _users(engine)
    yield from demo_training.load(engine)
    if engine.find_instances(process_key=PROCESS, limit=1):
        yield "demo requests already present"
        yield from _appraisal_round(engine)
        return
    for key, owner, channel, service_type, description, steps in _REQUESTS:
        instance = service_requests.submit(engine, values={
            "channel": channel, "owner_id": owner, **_OWNERS[owner],
            "service_type": service_type, "description": description,
        }, photos=[], user=owner if channel == "online" else "cs_zhang", now=engine.clock.now(),
            business_key=key)
        for step in steps:
            _take(engine, instance.id, step, service_type, owner)
        final = engine.instance(instance.id)
        waiting = ", ".join(t.name for t in final.open_tasks) or final.status.value
        yield f"{key}: {waiting}"
    if history:
        from . import demo_history

        yield from demo_history.replay(engine, engine.clock.now())
    yield from _appraisal_round(engine)


def _appraisal_round(engine: WorkflowEngine) -> Iterator[str]:
    """Last month's appraisal round (once), so supervisors and managers find appraisals to
    review; the timer worker's round for the same month then starts none."""
    if engine.find_instances(process_key="appraisal_round", limit=1):
        return
    key = f"appraisal_round-{engine.clock.now():%Y%m%d}-DEMO"
    started = engine.start("appraisal_round", {}, business_key=key, user="mgr_wu").variables
    yield (f"appraisal round {started['period_start']} – {started['period_end']}: "
           f"{', '.join(started['appraised'])}")


def _users(engine: WorkflowEngine) -> Iterator[str]:
    created = []
    for username, name, roles, skills, locale, phone, building, unit in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is not None:
            continue
        user = User(username=username, display_name=name, locale=locale, active=True, phone=phone,
                    building=building, unit=unit, created_at=engine.clock.now())
        user.set_password(DEMO_PASSWORD)
        user.set_roles(roles)
        user.set_skills(skills)
        db.session.add(user)
        created.append(username)
    db.session.commit()
    if created:
        yield f"demo users (password '{DEMO_PASSWORD}'): {', '.join(created)}"


def _take(engine: WorkflowEngine, instance_id: str, step: str, service_type: str, owner: str) -> None:
    technician = _TECHNICIAN[service_type]
    element, data, user = {
        "register": ("Task_Register", {"registration_note": "已核实联系方式 Contact verified"}, "cs_zhang"),
        "review": ("Task_Review", {"decision": "approve"}, "sup_zhao"),
        "reject": ("Task_Review", {
            "decision": "reject", "rejection_reason": "不属于物业服务范围 Outside our services"}, "sup_zhao"),
        "confirm": ("Task_Confirm", {
            "confirmed_time": "2026-12-01T10:00", "confirmed_by_phone": True,
            "confirmation_note": "业主上午在家 Owner home in the morning"}, "cs_zhang"),
        "dispatch": ("Task_Dispatch", {"technician": technician}, "sup_zhao"),
        "work": (_WORK_TASK[service_type], {}, technician),
        "record": ("Task_Record", {"work_content": "已按标准完成 Done to standard",
                                   "work_started_at": "2026-12-01T10:05",
                                   "work_finished_at": "2026-12-01T10:50",
                                   "materials": "—"}, technician),
        "accept": ("Task_Acceptance", {"acceptance": "accepted"}, owner),
        "rate": ("Task_Rate", {"satisfaction": 5, "satisfaction_comment": "师傅很专业 Very professional"},
                 owner),
    }[step]
    task = next(t for t in engine.instance(instance_id).open_tasks if t.element_id == element)
    engine.complete_user_task(task.id, data, user=user)
