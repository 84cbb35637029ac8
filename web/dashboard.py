"""The analysis dashboard (R-3.3): one period, a few filters, the figures against their
targets, charts with their tables, and the same tables as CSV or Excel."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from . import analytics, spreadsheet_csv, workflow_engine
from .authz import roles_required
from .extensions import db
from .i18n import company_zone
from .models import Role, ServiceCase, User, UserRole
from .query_forms import QueryForm
from .service_requests import CHANNELS, SERVICE_TYPES

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
VIEWERS = (Role.MANAGER, Role.QUALITY_REVIEWER, Role.SERVICE_SUPERVISOR, Role.PROCESS_OWNER, Role.ADMIN)
DEFAULT_WEEKS = 4
FEEDBACK_LABELS = {"complaint": _l("Complaint"), "suggestion": _l("Suggestion"), "praise": _l("Praise"),
                   "inquiry": _l("Inquiry"), "unclassified": _l("Not classified yet")}
DEADLINE_LABELS = {"response": _l("Response (24 h)"), "handling": _l("Handling")}


class PeriodForm(QueryForm):
    max_days = analytics.MAX_DAYS

    first = DateField(_l("From"), validators=[Optional()])
    last = DateField(_l("To"), validators=[Optional()])
    service_type = SelectField(_l("Service type"), validators=[Optional()])
    building = SelectField(_l("Building"), validators=[Optional()])
    technician = SelectField(_l("Technician"), validators=[Optional()])
    channel = SelectField(_l("Channel"), validators=[Optional()])



def _form() -> PeriodForm:
    form = PeriodForm(request.args)
    everything = [("", _("All"))]
    form.service_type.choices = everything + [(k, str(v)) for k, v in SERVICE_TYPES.items()]
    form.channel.choices = everything + [(k, str(v)) for k, v in CHANNELS.items()]
    buildings = db.session.scalars(select(ServiceCase.building).distinct().order_by(ServiceCase.building))
    form.building.choices = everything + [(b, b) for b in buildings]
    technicians = db.session.execute(
        select(User.username, User.display_name)
        .where(User.role_rows.any(UserRole.role == Role.TECHNICIAN.value)).order_by(User.username))
    form.technician.choices = everything + [(u, f"{n} ({u})") for u, n in technicians]
    return form


def _report(form: PeriodForm) -> analytics.Report:
    today = workflow_engine().clock.now().astimezone(company_zone()).date()
    last = form.last.data or today
    first = form.first.data or last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    form.first.data, form.last.data = first, last
    filters = analytics.Filters(**{name: form[name].data or None
                                   for name in ("service_type", "building", "technician", "channel")})
    return analytics.report(db.session, analytics.Period(first, last, company_zone()), filters,
                            workflow_engine().clock.now())


@bp.get("/")
@roles_required(*VIEWERS)
def index():
    form = _form()
    if not form.validate():
        return render_template("dashboard/index.html", form=form, report=None), 422
    found = _report(form)
    return render_template("dashboard/index.html", form=form, report=found, tables=tables(found),
                           charts=_charts(found), export_args=_export_args(form))


def _export_args(form: PeriodForm) -> dict:
    return {name: (value.isoformat() if isinstance(value, date) else value)
            for name, value in form.data.items() if value}


@bp.get("/export.<fmt>")
@roles_required(*VIEWERS)
def export(fmt: str):
    """Every table of the page: ``csv`` (one table, ``?table=``) or ``xlsx`` (one sheet each)."""
    form = _form()
    if fmt not in ("csv", "xlsx") or not form.validate():
        return render_template("dashboard/index.html", form=form, report=None), 422
    found = tables(_report(form))
    stem = f"propflow-{form.first.data:%Y%m%d}-{form.last.data:%Y%m%d}"
    if fmt == "xlsx":
        return _download(_xlsx(found), f"{stem}.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = request.args.get("table", "summary")
    if name not in found:
        return render_template("dashboard/index.html", form=form, report=None), 422
    return _download(_csv(found[name]).encode("utf-8-sig"), f"{stem}-{name}.csv", "text/csv; charset=utf-8")


def _download(body: bytes, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class Table:
    """A titled table: what a chart shows, what a download contains."""

    def __init__(self, title: str, header: list[str], rows: list[list]):
        self.title, self.header, self.rows = title, header, rows


def tables(found: analytics.Report) -> dict[str, Table]:
    """The report as tables, keyed by the name the CSV download takes."""
    figure, value, target = _("Figure"), _("Value"), _("Target")
    summary = [
        [_("Requests received"), found.received, ""],
        [_("Requests closed"), found.closed, ""],
        [_("Answered within 24 h (%)"), found.response.percent, found.response.target],
        [_("Emergencies handled within 2 h (%)"), found.emergency.percent, found.emergency.target],
        [_("Satisfaction rate, scores 4–5 (%)"), found.satisfaction.percent, found.satisfaction.target],
        [_("Average score"), found.average_score, ""],
        [_("Scores below 4"), found.low_scores, ""],
        [_("Response deadlines breached"), found.breaches.get("response", 0), ""],
        [_("Handling deadlines breached"), found.breaches.get("handling", 0), ""],
        [_("Open rectifications"), len(found.rectifications), ""],
        [_("Overdue rectifications"), found.overdue_rectifications, ""],
    ]
    return {
        "summary": Table(_("Summary"), [figure, value, target], summary),
        "weeks": Table(_("Week by week"),
                       [_("Week of"), _("Received"), _("Answered within 24 h (%)"),
                        _("Satisfaction rate (%)"), _("Deadlines breached")],
                       [[w.monday.isoformat(), w.received, w.response.percent, w.satisfaction.percent,
                         w.breaches] for w in found.weeks]),
        "scores": Table(_("Scores"), [_("Score"), _("Answers")],
                        [[score, found.scores.get(score, 0)] for score in range(1, 6)]),
        "feedback": Table(_("Feedback by category"), [_("Category"), _("Items")],
                          [[str(FEEDBACK_LABELS[k]), n] for k, n in found.feedback.items()]),
        "problems": Table(_("Recurring problems"), [_("Service type"), _("Building"), _("Requests")],
                          [[str(SERVICE_TYPES.get(t, t)), b, n] for t, b, n in found.problems]),
        "rectifications": Table(_("Open rectifications"),
                                [_("Rectification"), _("Started"), _("Age (days)"), _("Overdue")],
                                [[r.business_key, r.started_at.astimezone(found.period.zone)
                                  .strftime("%Y-%m-%d %H:%M"), r.age_days, _("yes") if r.overdue else ""]
                                 for r in found.rectifications]),
    }


def _charts(found: analytics.Report) -> dict:
    """What dashboard.js draws; every series is also a table on the page."""
    weeks = [w.monday.isoformat() for w in found.weeks]
    return {
        "weeks": {"labels": weeks,
                  "received": [w.received for w in found.weeks],
                  "response": [w.response.percent for w in found.weeks],
                  "satisfaction": [w.satisfaction.percent for w in found.weeks],
                  "breaches": [w.breaches for w in found.weeks],
                  "targets": {"response": found.response.target, "satisfaction": found.satisfaction.target},
                  "names": {"received": _("Received"), "response": _("Answered within 24 h (%)"),
                            "satisfaction": _("Satisfaction rate (%)"), "breaches": _("Deadlines breached"),
                            "target": _("Target")}},
        "scores": {"labels": [str(s) for s in range(1, 6)],
                   "values": [found.scores.get(s, 0) for s in range(1, 6)], "name": _("Answers")},
        "feedback": {"labels": [str(FEEDBACK_LABELS[k]) for k in found.feedback],
                     "values": list(found.feedback.values()), "name": _("Items")},
        "ages": {"labels": [_("%(range)s days", range=k) for k in found.rectification_ages],
                 "values": list(found.rectification_ages.values()), "name": _("Open rectifications")},
    }


def _csv(table: Table) -> str:
    out = io.StringIO()
    writer = spreadsheet_csv.Writer(out)
    writer.writerow(table.header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
    return out.getvalue()


def _xlsx(found: dict[str, Table]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, table in found.items():
        sheet = book.create_sheet(title=name)
        for row in _with_header(table):
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_header(table: Table) -> Iterator[list]:
    yield list(table.header)
    yield from table.rows

