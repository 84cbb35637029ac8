"""Service requests as cases: owners submit and follow theirs; customer service enters
phone and on-site requests; everyone allowed sees a case's progress and photos."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import FormDefinition, InstanceNotFound, InvalidTaskData
from forms import apply_engine_errors, build_form_class, form_data

from . import authz, corrections, owner_tasks, service_requests, uploads, workflow_engine
from .authz import roles_required
from .extensions import db
from .models import Attachment, Role, ServiceCase, User, UserRole

bp = Blueprint("cases", __name__, url_prefix="/requests")
PAGE_SIZE = 25
# Set by the server, never by the person filling in the form.
_SERVER_FIELDS = {"online": ("channel", "owner_id"), "office": ("owner_id",)}


def _visible_start_form(kind: str) -> FormDefinition:
    definition = workflow_engine().start_form(service_requests.PROCESS)
    hidden = _SERVER_FIELDS[kind]
    return FormDefinition(tuple(f for f in definition.fields if f.id not in hidden))


def _submit(kind: str, owner: User | None, template: str):
    visible = _visible_start_form(kind)
    form_class = build_form_class(visible, "RequestForm")
    defaults = ({"owner_name": owner.display_name, "contact_phone": owner.phone,
                 "building": owner.building, "unit": owner.unit} if owner else {})
    form = form_class(request.form if request.method == "POST" else None, data=defaults)
    if request.method == "GET":
        return render_template(template, form=form, owner=owner)
    problem, status = None, 422
    if form.validate():
        values = form_data(form, visible)
        if kind == "online":
            values.update(channel="online", owner_id=current_user.username)
        else:
            values["owner_id"] = owner.username if owner else request.form.get("owner_id", "")
        try:
            photos = uploads.check_photos(request.files.getlist("photos"),
                                          max_count=current_app.config["MAX_PHOTOS"],
                                          max_bytes=current_app.config["MAX_PHOTO_BYTES"])
            instance = service_requests.submit(
                workflow_engine(), values=values, photos=photos, user=current_user.username,
                now=workflow_engine().clock.now())
        except uploads.UploadError as exc:
            problem, status = str(exc), exc.status
        except InvalidTaskData as exc:
            apply_engine_errors(form, exc.errors)
        except OSError:
            current_app.logger.exception("storing photos failed")
            problem = _("The photos could not be stored (the server's disk refused them). "
                        "Nothing was submitted; please try again later or without photos.")
            return render_template(template, form=form, owner=owner, problem=problem), 507
        else:
            flash(_("Request %(key)s submitted.", key=instance.business_key), "success")
            return redirect(url_for("cases.detail", instance_id=instance.id)), 303
    return render_template(template, form=form, owner=owner, problem=problem), status


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.OWNER)
def new():
    """An owner submits a request online (R-1.1), photos included."""
    return _submit("online", current_user, "cases/new.html")


@bp.route("/new/office", methods=["GET", "POST"])
@roles_required(Role.CUSTOMER_SERVICE)
def new_office():
    """Customer service enters a phone or on-site request for an owner; channel recorded."""
    owner = None
    username = request.values.get("owner_id", "").strip()
    if username:
        owner = db.session.scalar(select(User).where(User.username == username))
        if owner is None or not owner.has_role(Role.OWNER):
            flash(_("No owner account %(user)s.", user=username), "error")
            return render_template("cases/choose_owner.html", owners=_owners()), 422
    if owner is None:
        return render_template("cases/choose_owner.html", owners=_owners())
    return _submit("office", owner, "cases/new_office.html")


def _owners() -> list[User]:
    return list(db.session.scalars(select(User).join(UserRole).where(
        UserRole.role == Role.OWNER.value).order_by(User.username)))


@bp.get("/")
@login_required
def index():
    """Owners: their own requests. Office staff: every request. Newest first, paginated."""
    query = select(ServiceCase).order_by(ServiceCase.submitted_at.desc(), ServiceCase.instance_id)
    if not current_user.has_role(*authz.READ_ALL_CASES):
        if not current_user.has_role(Role.OWNER):
            abort(403)
        query = query.where(ServiceCase.owner_id == current_user.username)
    page = max(request.args.get("page", 1, type=int), 1)
    rows = db.session.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    engine = workflow_engine()
    cases = [engine.instance(row.instance_id) for row in rows[:PAGE_SIZE]]
    return render_template("cases/index.html", page=page, has_next=len(rows) > PAGE_SIZE,
                           cases=[(c, service_requests.describe(c)) for c in cases],
                           waiting=owner_tasks.waiting_for_me() if not current_user.is_staff else [],
                           reminders=owner_tasks.reminders() if not current_user.is_staff else [])


def _case_or_404(instance_id: str):
    try:
        instance = workflow_engine().instance(instance_id)
    except InstanceNotFound:
        abort(404)
    if instance.process_key != service_requests.PROCESS or not authz.may_see_case(
            current_user, instance.variables.get("owner_id"), instance.open_tasks):
        abort(404)  # not 403: whether someone else's request exists is not disclosed
    return instance


@bp.route("/<instance_id>", methods=["GET", "POST"])
@login_required
def detail(instance_id: str):
    """The case: status in plain words, deadlines, history, photos; and the owner's own
    open task (on-site acceptance) as a form."""
    instance = _case_or_404(instance_id)
    engine = workflow_engine()
    own, form, done, status = owner_tasks.answer(instance)
    if done is not None:
        return done
    photos = db.session.scalars(select(Attachment).where(
        Attachment.instance_id == instance.id).order_by(Attachment.uploaded_at)).all()
    history = [e for e in engine.history(instance.id)
               if e.action.value in ("started", "task_completed", "deadline_breached", "cancelled")]
    return render_template("cases/detail.html", case=instance, status=service_requests.describe(instance),
                           own_task=own, form=form, photos=photos, history=history,
                           corrections=corrections.case_panels(db.session, current_user, instance.id)), status


@bp.get("/by-key/<business_key>")
@login_required
def by_key(business_key: str):
    """A request found by its number (as quality checks and rectifications cite it)."""
    case = db.session.scalar(select(ServiceCase).where(ServiceCase.business_key == business_key))
    if case is None:
        abort(404)
    _case_or_404(case.instance_id)
    return redirect(url_for("cases.detail", instance_id=case.instance_id))


@bp.get("/<instance_id>/photos/<attachment_id>")
@login_required
def photo(instance_id: str, attachment_id: str):
    """A photo, only to someone who may see its case."""
    _case_or_404(instance_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.instance_id != instance_id:
        abort(404)
    return send_from_directory(uploads.upload_folder(), attachment.stored_name,
                               mimetype=attachment.content_type, max_age=0)
