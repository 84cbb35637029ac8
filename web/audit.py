"""The audit trail's integrity (A-1, A-2): reviewers check its hash chain and see the first
broken link, if any."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from engine import ChainBreak, ChainReport, InstanceNotFound

from . import authz, workflow_engine
from .authz import roles_required
from .models import Role

bp = Blueprint("audit", __name__, url_prefix="/audit")
AUDITORS = (Role.QUALITY_REVIEWER, Role.PROCESS_OWNER, Role.MANAGER, Role.ADMIN)
REASONS = {
    ChainBreak.PREVIOUS_HASH: _l("It does not follow the entry before it: an entry in between was removed, "
                                "or the one before was altered together with its hash."),
    ChainBreak.CONTENT: _l("Its content no longer matches its hash: it was edited after it was written."),
    ChainBreak.HEAD: _l("The trail does not end where the chain's head says: entries at the end were "
                        "removed, or entries were added around the application."),
}


@bp.get("/verify")
@roles_required(*AUDITORS)
def verify():
    """Check the whole chain now and show the entries checked, or the first broken link.

    :raise 403: for anyone but quality reviewers, process owners, managers and admins.
    """
    report = workflow_engine().verify_audit_chain()
    return render_template("audit/verify.html", report=report, reason=REASONS.get(report.reason),
                           hidden=_personnel_entry(report))


def _personnel_entry(report: ChainReport) -> bool:
    """The broken entry belongs to a personnel record the viewer may not see: its details
    (when, what, who, which step) are not shown, only where the chain breaks."""
    entry = report.entry
    if entry is None or entry.instance_id is None:
        return False
    try:
        instance = workflow_engine().instance(entry.instance_id)
    except InstanceNotFound:
        return False
    return not authz.may_see_instance(current_user, instance.process_key, instance.variables)
