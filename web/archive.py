"""The archive (A-1, A-2): every kind of record kept, listed by kind and period with its
author and time, each row linked to where the record lives and to its corrections;
downloads of a kind and period as CSV or Excel, and a ZIP of the period's case dossiers.

Nothing is ever deleted or edited here: a record is corrected by annotating it (see
:mod:`web.corrections`). Managers, quality reviewers and service supervisors use the
archive; personnel records (appraisals, rewards and penalties, training attendance and
needs) are shown only to whom ``may_see_staff_record`` allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from . import analytics, archive_export, authz, corrections, records, reviews, workflow_engine
from .extensions import db
from .i18n import company_zone
from .models import Role
from .query_forms import QueryForm

bp = Blueprint("archive", __name__, url_prefix="/archive")
ARCHIVISTS = (Role.MANAGER, Role.QUALITY_REVIEWER, Role.SERVICE_SUPERVISOR)
PAGE_SIZE = 50
MAX_DAYS = 366  # a period is at most a year (a leap year's worth of days)
DEFAULT_KIND = "service_request"


@dataclass(frozen=True)
class Chosen:
    kind: records.RecordType
    first: date
    last: date
    zone: ZoneInfo

    @property
    def period(self) -> analytics.Period:
        """The calendar days in company time (with their UTC bounds)."""
        return analytics.Period(self.first, self.last, self.zone)

    def args(self) -> dict[str, str]:
        return {"kind": self.kind.name, "first": self.first.isoformat(), "last": self.last.isoformat()}


class ArchiveForm(QueryForm):
    max_days = MAX_DAYS

    kind = SelectField(_l("Records"), validators=[Optional()])
    first = DateField(_l("From"), validators=[Optional()])
    last = DateField(_l("To"), validators=[Optional()])


class CorrectionForm(FlaskForm):
    field = SelectField(_l("Field"))
    corrected = StringField(_l("Corrected value"))
    reason = TextAreaField(_l("Reason for the correction"), validators=[
        InputRequired(message=_l("Say why the record is corrected."))])


def href(link: tuple[str, dict] | None) -> str | None:
    """The address of the page a record lives on; None when that page is not part of this
    application (a part not installed)."""
    if link is None:
        return None
    try:
        return url_for(link[0], **link[1])
    except BuildError:
        return None



def _archivist() -> None:
    """:raise 403: for anyone but managers, quality reviewers and service supervisors."""
    if not current_user.has_role(*ARCHIVISTS):
        abort(403)


def _chosen() -> tuple[ArchiveForm, Chosen | None]:
    """The kind and period asked for (None with the form's errors when they are wrong).
    By default service requests of last month; from a day alone, until today; until a
    day alone, from the first of its month."""
    form = ArchiveForm(request.args)
    form.kind.choices = [SelectChoice(name, str(kind.label)) for name, kind in records.TYPES.items()]
    if not form.validate():
        return form, None
    today = workflow_engine().clock.now().astimezone(company_zone()).date()
    first, last = form.first.data, form.last.data
    if first is None and last is None:
        last = today.replace(day=1) - timedelta(days=1)
    last = last or max(today, first)
    first = first or last.replace(day=1)
    if (last - first).days >= MAX_DAYS:
        form.last.errors = [_("A period is at most %(n)d days.", n=MAX_DAYS)]
        return form, None
    form.first.data, form.last.data = first, last
    form.kind.data = form.kind.data or DEFAULT_KIND
    return form, Chosen(records.TYPES[form.kind.data], first, last, company_zone())


@bp.before_request
@login_required
def _signed_in():
    """Every archive page needs a signed-in user; which ones, each view decides."""


@bp.get("/")
def index():
    """One kind of record over one period, newest first, a page at a time (422 on a bad
    kind or period)."""
    _archivist()
    form, chosen = _chosen()
    if chosen is None:
        return render_template("archive/index.html", form=form, chosen=None), 422
    page = max(request.args.get("page", 1, type=int), 1)
    visible = authz.visible_staff(current_user)
    found = chosen.kind.page(db.session, chosen.period, visible, limit=PAGE_SIZE + 1,
                             offset=(page - 1) * PAGE_SIZE)
    rows = found[:PAGE_SIZE]
    return render_template("archive/index.html", form=form, chosen=chosen, rows=rows, page=page,
                           has_next=len(found) > PAGE_SIZE,
                           counts=corrections.counts(db.session, chosen.kind.name, [r.key for r in rows]),
                           max_rows=archive_export.MAX_ROWS, max_dossiers=archive_export.MAX_DOSSIERS,
                           href=href)


def _refuse(form: ArchiveForm, problem: str):
    return render_template("archive/index.html", form=form, chosen=None, problem=problem), 422


@bp.get("/export.<fmt>")
def export(fmt: str):
    """The kind and period as ``csv`` or ``xlsx`` with every column and the corrections.

    :raise 404: another format. 422: a bad kind or period, or more than ``MAX_ROWS`` records.
    """
    _archivist()
    if fmt not in ("csv", "xlsx"):
        abort(404)
    form, chosen = _chosen()
    if chosen is None:
        return render_template("archive/index.html", form=form, chosen=None), 422
    visible = authz.visible_staff(current_user)
    total = chosen.kind.count(db.session, chosen.period, visible)
    if total > archive_export.MAX_ROWS:
        return _refuse(form, _(
            "%(n)d records: a download holds at most %(max)d. Choose a shorter period.",
            n=total, max=archive_export.MAX_ROWS))
    stem = f"archive-{chosen.kind.name}-{chosen.first:%Y%m%d}-{chosen.last:%Y%m%d}"
    rows = archive_export.with_corrections(db.session, chosen.kind, chosen.period, visible)
    if fmt == "xlsx":
        return send_file(archive_export.xlsx_file(chosen.kind, rows, chosen.zone), as_attachment=True,
                         download_name=f"{stem}.xlsx", max_age=0,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    body = stream_with_context(archive_export.csv_lines(chosen.kind, rows, chosen.zone))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})


@bp.get("/dossiers.zip")
def dossiers():
    """The dossiers of the service requests submitted in the period, one ZIP, with a
    manifest of their SHA-256 hashes.

    :raise 422: a bad period, or more than ``MAX_DOSSIERS`` requests.
    """
    _archivist()
    form, chosen = _chosen()
    if chosen is None:
        return render_template("archive/index.html", form=form, chosen=None), 422
    kind = records.TYPES["service_request"]
    total = kind.count(db.session, chosen.period, None)
    if total > archive_export.MAX_DOSSIERS:
        return _refuse(form, _(
            "%(n)d service requests: one ZIP holds at most %(max)d dossiers. Choose a shorter period.",
            n=total, max=archive_export.MAX_DOSSIERS))
    now = workflow_engine().clock.now()
    cases = [(r.instance_id, r.display_key) for r in kind.iterate(db.session, chosen.period, None)]
    content = archive_export.dossiers_file(
        cases, lambda instance_id: reviews.dossier_file(instance_id, now), period=(chosen.first, chosen.last),
        generated_by=current_user.username, generated_at=now)
    return send_file(content, mimetype="application/zip", as_attachment=True, max_age=0,
                     download_name=f"dossiers-{chosen.first:%Y%m%d}-{chosen.last:%Y%m%d}.zip")


def _record_or_abort(record_type: str, key: str) -> records.Record:
    """The record, if the user may see it here.

    :raise 404: no such record, or a personnel record the user may not see.
    :raise 403: not an archivist nor the record's own author.
    """
    found = records.find(db.session, record_type, key)
    if found is None:
        abort(404)
    own = current_user.is_staff and found.author == current_user.username
    if not current_user.has_role(*ARCHIVISTS) and not (own and not records.TYPES[record_type].personnel):
        abort(403)
    if not records.may_see(db.session, current_user, found):
        abort(404)  # whether someone's personnel record exists is not disclosed
    return found


def _correction_form(record: records.Record) -> CorrectionForm:
    form = CorrectionForm(request.form if request.method == "POST" else None)
    form.field.choices = [SelectChoice("", _("Choose a field"))] + [
        SelectChoice(c.name, str(c.label)) for c in records.TYPES[record.type].correctable_fields()]
    return form


@bp.route("/records/<record_type>/<path:key>", methods=["GET", "POST"])
def record(record_type: str, key: str):
    """One record with every field as recorded, its corrections beside each, and the form
    to annotate a correction for those who may (POST: 303 when saved, 422 with the errors
    and nothing saved, 403 for anyone else)."""
    found = _record_or_abort(record_type, key)
    allowed = corrections.may_correct(current_user, found)
    form = _correction_form(found)
    status = 200
    if request.method == "POST":
        if not allowed:
            abort(403)
        if form.validate():
            value, errors = corrections.check(db.session, found, form.field.data, form.corrected.data or "",
                                              form.reason.data or "", company_zone())
            if not errors:
                corrections.annotate(workflow_engine(), found, field=form.field.data, corrected=value,
                                     reason=form.reason.data, author=current_user.username)
                flash(_("Correction recorded. The original value is kept."), "success")
                return redirect(url_for("archive.record", record_type=record_type, key=key)), 303
            for name, messages in errors.items():
                form[name].errors = list(form[name].errors) + messages
        status = 422
    items = corrections.for_record(db.session, found.type, found.key)
    return render_template("archive/record.html", record=found, kind=records.TYPES[found.type],
                           form=form if allowed else None, latest=corrections.latest(items),
                           panel=corrections.panel(db.session, current_user, found),
                           shown=corrections.shown, text_of=corrections.text_of, href=href), status
