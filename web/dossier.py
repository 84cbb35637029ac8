"""A case's dossier for archiving (A-1): one ZIP with the history (CSV and JSON), each
form as submitted, the attachments list, the diagram as SVG with the case's marks, the
BPMN of the version the case ran on, and a manifest with the SHA-256 of every file.

File names are ASCII and stable, so an archive can be checked against its manifest years
later without this application.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from . import spreadsheet_csv
from .diagram_svg import render_svg
from .models import Attachment
from .trail import CaseTrail, Step, submitted_fields

FORMAT = 1
FORM_ACTIONS = ("started", "task_completed")


def safe_name(text: str | None, fallback: str) -> str:
    """``text`` reduced to letters, digits, dot, dash and underscore (``fallback`` if nothing is left)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text or "").strip("._")
    return cleaned or fallback


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


def _csv(header: list[str], rows: Iterable[list]) -> bytes:
    out = io.StringIO()
    writer = spreadsheet_csv.Writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8


def _entry(step: Step) -> dict[str, Any]:
    e = step.entry
    return {"audit_id": e.id, "at": e.at.isoformat(), "action": e.action.value, "step": step.title,
            "actor": e.actor, "element_id": e.element_id, "element_name": e.element_name,
            "task_id": e.task_id, "data": e.data}


def _history(trail: CaseTrail) -> tuple[bytes, bytes]:
    entries = [_entry(step) for step in trail.steps]
    header = ["audit_id", "at", "action", "step", "actor", "element_id", "element_name", "task_id", "data"]
    rows = [[json.dumps(row[k], ensure_ascii=False) if k == "data" else "" if row[k] is None else row[k]
             for k in header] for row in entries]
    return _csv(header, rows), _json(entries)


def _forms(trail: CaseTrail, elements) -> dict[str, bytes]:
    """One file per form submitted: the start form and every completed task's."""
    files = {}
    numbered = [s for s in trail.steps if s.entry.action.value in FORM_ACTIONS]
    for n, step in enumerate(numbered, start=1):
        e = step.entry
        values = e.data.get("submitted" if e.action.value == "task_completed" else "variables", {})
        info = elements.get(e.element_id)
        labelled = submitted_fields(values, info.form if info is not None else None)
        files[f"forms/{n:02d}-{safe_name(e.element_id, 'form')}.json"] = _json({
            "element_id": e.element_id, "element_name": e.element_name, "task_id": e.task_id,
            "submitted_by": e.actor, "submitted_at": e.at.isoformat(), "audit_id": e.id, "values": values,
            "labelled": [{"label": label, "value": value} for label, value in labelled]})
    return files


def _attachments(attachments: list[Attachment]) -> bytes:
    return _csv(["file_name", "bytes", "content_type", "uploaded_by", "uploaded_at"],
                [[a.filename, a.size, a.content_type, a.uploaded_by, a.uploaded_at.isoformat()]
                 for a in attachments])


def _case(trail: CaseTrail) -> dict[str, Any]:
    i, d = trail.instance, trail.definition
    return {
        "instance_id": i.id, "business_key": i.business_key, "process_key": i.process_key,
        "process_name": d.name, "version": d.version, "definition_id": d.id, "status": i.status.value,
        "started_at": i.started_at.isoformat(), "started_by": i.started_by,
        "ended_at": i.ended_at.isoformat() if i.ended_at else None, "end_event_id": i.end_event_id,
        "owner": trail.owner,
        "deadlines": [{"name": x.name, "due_at": x.due_at, "reached_at": x.reached_at,
                       "breached_at": x.breached_at, "met": x.met} for x in i.deadlines],
        "waiting": [{"kind": w.kind, "element_id": w.element_id, "name": w.name, "since": w.since,
                     "due_at": w.due_at, "who": w.who} for w in trail.waiting],
        "diagram_marks": trail.marks(),
    }


def build(trail: CaseTrail, *, elements, bpmn: bytes, attachments: list[Attachment], generated_by: str,
          generated_at: datetime) -> tuple[str, bytes]:
    """The dossier's file name and content.

    :raise ValueError: the diagram cannot be drawn (a deployed diagram always can).
    """
    i, d = trail.instance, trail.definition
    stem = safe_name(i.business_key, i.id)
    history_csv, history_json = _history(trail)
    files = {
        "case.json": _json(_case(trail)),
        "history.csv": history_csv,
        "history.json": history_json,
        **_forms(trail, elements),
        "attachments.csv": _attachments(attachments),
        "diagram.svg": render_svg(bpmn, process_id=i.process_key, marks=trail.marks(),
                                  notes=trail.notes()).encode("utf-8"),
        f"{safe_name(d.key, 'process')}-v{d.version}.bpmn": bpmn,
    }
    manifest = {
        "format": FORMAT, "business_key": i.business_key, "instance_id": i.id, "definition_id": d.id,
        "generated_at": generated_at.isoformat(), "generated_by": generated_by,
        "files": [{"name": name, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                  for name, content in files.items()],
    }
    files["manifest.json"] = _json(manifest)
    out = io.BytesIO()
    stamp = generated_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(f"{stem}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return f"dossier-{stem}-{generated_at:%Y%m%d-%H%M%S}.zip", out.getvalue()
