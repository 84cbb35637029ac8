"""Demo data: the service-request process deployed and a few requests in different
states, so someone trying Propflow sees real work at once. Loading twice adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from engine import WorkflowEngine

PROCESS = "service_request"

_OWNERS = {
    "owner_wang": {"owner_name": "王建国", "contact_phone": "13800000001", "building": "3", "unit": "1201"},
    "owner_li": {"owner_name": "李梅", "contact_phone": "13800000002", "building": "5", "unit": "0302"},
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
     ["register", "review", "confirm", "dispatch", "work", "record", "accept"]),
    ("SR-DEMO-006", "owner_li", "online", "other",
     "希望物业代收快递 Please accept parcels on my behalf", ["register", "reject"]),
]

_TECHNICIAN = {"plumbing": "tech_chen", "electrical": "tech_chen", "facility": "tech_liu",
               "cleaning": "tech_liu", "other": "tech_liu"}
_WORK_TASK = {"plumbing": "Task_WorkPlumbing", "electrical": "Task_WorkElectrical",
              "facility": "Task_WorkFacility", "cleaning": "Task_WorkCleaning",
              "other": "Task_WorkGeneral"}


def load(engine: WorkflowEngine, bpmn_dir: Path) -> Iterator[str]:
    files = {p.name: p.read_bytes() for p in sorted(bpmn_dir.iterdir())
             if p.suffix in (".bpmn", ".dmn")}
    deployment = engine.deploy(files, name="Propflow processes", source="demo",
                               duplicate_filtering=True)
    for definition in deployment.definitions:
        yield f"{definition.key}: version {definition.version}"
    if engine.find_instances(process_key=PROCESS, limit=1):
        yield "demo requests already present"
        return
    for key, owner, channel, service_type, description, steps in _REQUESTS:
        instance = engine.start(PROCESS, {
            "channel": channel, "owner_id": owner, **_OWNERS[owner],
            "service_type": service_type, "description": description,
        }, business_key=key, user=owner if channel == "online" else "cs_zhang")
        for step in steps:
            _take(engine, instance.id, step, service_type, owner)
        final = engine.instance(instance.id)
        waiting = ", ".join(t.name for t in final.open_tasks) or final.status.value
        yield f"{key}: {waiting}"


def _take(engine: WorkflowEngine, instance_id: str, step: str, service_type: str, owner: str) -> None:
    technician = _TECHNICIAN[service_type]
    element, data, user = {
        "register": ("Task_Register", {"registration_note": "已核实联系方式 Contact verified"}, "cs_zhang"),
        "review": ("Task_Review", {"decision": "approve"}, "sup_zhao"),
        "reject": ("Task_Review", {
            "decision": "reject", "rejection_reason": "不属于物业服务范围 Outside our services"}, "sup_zhao"),
        "confirm": ("Task_Confirm", {
            "confirmed_time": "2026-12-01T10:00",
            "confirmation_note": "业主上午在家 Owner home in the morning"}, "cs_zhang"),
        "dispatch": ("Task_Dispatch", {"technician": technician}, "sup_zhao"),
        "work": (_WORK_TASK[service_type], {}, technician),
        "record": ("Task_Record", {"work_content": "已按标准完成 Done to standard",
                                   "work_started_at": "2026-12-01T10:05",
                                   "work_finished_at": "2026-12-01T10:50",
                                   "materials": "—"}, technician),
        "accept": ("Task_Acceptance", {"acceptance": "accepted"}, owner),
    }[step]
    task = next(t for t in engine.instance(instance_id).open_tasks if t.element_id == element)
    engine.complete_user_task(task.id, data, user=user)
