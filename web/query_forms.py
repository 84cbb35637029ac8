"""Filters read from the query string. A page that changes nothing takes no CSRF token, and a
period's end may not come before its start (nor, where the page bounds it, span too long)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError


class QueryForm(FlaskForm):
    """A filter form; with ``first`` and ``last`` date fields, they make a checked period."""

    class Meta:
        csrf = False

    max_days: int | None = None  # the longest period allowed, in days (None: unbounded)

    def validate_last(self, field) -> None:
        first = getattr(self, "first", None)
        if first is None or not first.data or not field.data:
            return
        if field.data < first.data:
            raise ValidationError(_("The end of the period is before its start."))
        if self.max_days is not None and (field.data - first.data).days >= self.max_days:
            raise ValidationError(_("A period is at most %(n)d days.", n=self.max_days))
