"""The authorisation matrix (issue 7): every route of the URL map, with every method it
accepts, against every role — anonymous, each of the nine roles' demo accounts, and an
integration account — through real HTTP. Each case names the outcome its role must get:
allowed (the exact status: a page, a redirect, or 422/400 for a body left empty on purpose),
the sign-in page (anonymous on pages), 401 (anonymous on the API), 403, or 404 where the
code hides that a record exists. A request must change nothing — above all a refused one:
the audit trail, the worklist's assignments, the accounts and the tables people write to are
compared before and after (the few allowed requests that do write, such as claiming a task,
are put back after they are checked).

A route added to the app without an entry here fails ``test_every_route_and_method_is_in
_the_matrix``. Paths are built from the real demo records (a task, a case, an appraisal,
a feedback item…), so a request reaches the check that guards it, never a 404 for an id
that does not exist (``test_each_path_reaches_its_rule`` checks the routing).

The whole matrix runs on SQLite; on PostgreSQL, the cases where some role must get a 404 for
a record it can name (where the visibility and personnel filters, SQL over JSON, differ
between the databases), and the object-level tests below.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from app import create_app
from engine import ManualClock
from tests.conftest import FIXTURES, scratch_database
from tests.integration.conftest import Browser
from tests.integration.test_rest import basic
from tests.integration.test_web import PNG, REQUEST
from web import workflow_engine
from web.demo import DEMO_PASSWORD
from web.extensions import db
from web.models import Attachment, Role, User

# --- who --------------------------------------------------------------------------------------

ANON, OWNER, CS, SUP, TECH = "anonymous", "owner", "customer_service", "service_supervisor", "technician"
QA, PO, MGR, ADMIN, INTEGRATION = "quality_reviewer", "process_owner", "manager", "admin", "integration"
ROLES = (ANON, OWNER, CS, SUP, TECH, QA, PO, MGR, ADMIN, INTEGRATION)
# The account that plays each role (the demo's; the integration account is made here).
ACCOUNTS = {OWNER: "owner_wang", CS: "cs_zhang", SUP: "sup_zhao", TECH: "tech_chen", QA: "qa_sun",
            PO: "po_zhou", MGR: "mgr_wu", ADMIN: "admin", INTEGRATION: "svc_matrix"}


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {ANON}
STAFF = SIGNED_IN - {OWNER}
OFFICE = roles(CS, SUP, QA, MGR, ADMIN)        # read every case
SUPERVISING = roles(SUP, ADMIN)                 # every task; reassign
REVIEWERS = roles(QA, PO, MGR, ADMIN, SUP)      # compliance review, the dashboard
AUDITORS = roles(QA, PO, MGR, ADMIN)
ARCHIVISTS = roles(MGR, QA, SUP)
LEADS = roles(MGR, SUP)                         # staff, appraisals, training organisers
DEPLOYERS = roles(PO, ADMIN)
WORKERS = roles(INTEGRATION, ADMIN)             # external-task workers
STARTERS = roles(SUP, QA, MGR)                  # the rectification's candidateStarterGroups

LOGIN = "the sign-in page"  # 302 to /login?next=… (Flask-Login's login_required)
REFUSED = (LOGIN, 401, 403, 404)

# --- what ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One route and method, with the request to send and each role's outcome."""

    rule: str
    method: str
    path: str  # ``{name}`` placeholders are the demo's ids (see ``Site.ids``)
    expected: Mapping[str, int | str]
    label: str = ""
    data: Mapping | None = None  # form fields for pages, the JSON body for the API
    restore: Callable | None = None  # puts back what an allowed request changed

    @property
    def api(self) -> bool:
        return self.rule.startswith("/engine-rest")

    @property
    def name(self) -> str:
        return f"{self.method} {self.rule}" + (f" [{self.label}]" if self.label else "")


def case(rule: str, method: str, outcomes: Mapping[frozenset[str] | str, int | str], *,
         path: str | None = None, default: int = 403, label: str = "", data: Mapping | None = None,
         restore: Callable | None = None) -> Case:
    """``outcomes`` maps role sets to what they get, the first set holding a role deciding;
    other signed-in roles get ``default`` (403), anonymous the sign-in page or, on the API, 401."""
    expected = {}
    for role in ROLES:
        found = next((outcome for who, outcome in outcomes.items()
                      if role == who or (isinstance(who, frozenset) and role in who)), None)
        if found is None:
            found = (401 if rule.startswith("/engine-rest") else LOGIN) if role == ANON else default
        expected[role] = found
    return Case(rule, method, path or rule, expected, label, data, restore)


def unclaiming(task: str) -> Callable:
    """After an allowed claim: nobody holds the task again."""
    return lambda site: workflow_engine().unclaim(site.ids[task], user="matrix")


def giving_back(task: str, holder: str) -> Callable:
    """After an allowed unclaim: the task is ``holder``'s again."""
    return lambda site: workflow_engine().assign(site.ids[task], holder, by="matrix")


def _locales(site) -> None:
    for user in db.session.scalars(select(User)):
        user.locale = site.locales[user.username]
    db.session.commit()


UNKNOWN_FIELD = {"variables": {"matrix_unknown_field": {"value": "x", "type": "String"}}}
WORKER = {"workerId": "matrix-worker"}

PUBLIC = [
    case("/", "GET", {EVERYONE: 302}),  # anonymous to /login, owners to their requests, staff to work
    case("/health", "GET", {EVERYONE: 200}),
    case("/status", "GET", {EVERYONE: 200}),
    case("/static/<path:filename>", "GET", {EVERYONE: 200}, path="/static/app.css"),
    case("/login", "GET", {ANON: 200, SIGNED_IN: 302}),
    case("/login", "POST", {ANON: 422, SIGNED_IN: 302}, label="empty form"),
    # Signing out runs on a client of its own, so the role's shared one stays signed in.
    case("/logout", "POST", {SIGNED_IN: 302}),
    case("/language/<locale>", "POST", {EVERYONE: 302}, path="/language/en", restore=_locales),
]

ADMINISTRATION = [
    case("/admin/users", "GET", {ADMIN: 200}),
    case("/admin/users/new", "GET", {ADMIN: 200}),
    case("/admin/users/new", "POST", {ADMIN: 422}, label="empty form"),
    case("/admin/users/<int:user_id>", "GET", {ADMIN: 200}, path="/admin/users/{tech_liu_id}"),
    case("/admin/users/<int:user_id>", "POST", {ADMIN: 422}, path="/admin/users/{tech_liu_id}",
         label="empty form"),
    case("/deploy/", "GET", {DEPLOYERS: 200}),
    case("/deploy/check", "POST", {DEPLOYERS: 422}, label="no files"),
    case("/deploy/confirm", "POST", {DEPLOYERS: 400}, label="nothing carried"),
    case("/audit/verify", "GET", {AUDITORS: 200}),
]

CASES = [  # service requests: owners see their own, the office every one, staff those with work on them
    case("/requests/", "GET", {roles(OWNER) | OFFICE: 200}),
    case("/requests/new", "GET", {OWNER: 200}),
    case("/requests/new", "POST", {OWNER: 422}, label="empty form"),
    case("/requests/new/office", "GET", {CS: 200}),
    case("/requests/new/office", "POST", {CS: 200}, label="no owner chosen yet"),
    case("/requests/<instance_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path="/requests/{sr1}", label="the owner's, waiting for customer service"),
    case("/requests/<instance_id>", "GET", {OFFICE: 200}, default=404,
         path="/requests/{sr4}", label="another owner's"),
    case("/requests/<instance_id>", "GET", {roles(OWNER, TECH) | OFFICE: 200}, default=404,
         path="/requests/{sr3}", label="dispatched to the technician"),
    # Nothing of the owner's to answer on SR-1 now: 409; on their survey, an empty answer 422.
    case("/requests/<instance_id>", "POST", {roles(OWNER) | OFFICE: 409}, default=404,
         path="/requests/{sr1}", label="the owner's, nothing to answer"),
    case("/requests/<instance_id>/photos/<attachment_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path="/requests/{photo_case}/photos/{photo}"),
    case("/requests/by-key/<business_key>", "GET", {roles(OWNER) | OFFICE: 302}, default=404,
         path="/requests/by-key/SR-DEMO-001"),
    case("/feedback/", "GET", {roles(OWNER) | OFFICE: 200}),
    case("/feedback/new", "GET", {OWNER: 200}),
    case("/feedback/new", "POST", {OWNER: 422}, label="empty form"),
    case("/feedback/<instance_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path="/feedback/{feedback}", label="the owner's"),
    case("/feedback/<instance_id>", "POST", {roles(OWNER) | OFFICE: 409}, default=404,
         path="/feedback/{feedback}", label="the owner's, waiting for customer service"),
    case("/feedback/survey/<instance_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path="/feedback/survey/{survey}", label="the owner's"),
    case("/feedback/survey/<instance_id>", "POST", {OWNER: 422, OFFICE: 409}, default=404,
         path="/feedback/survey/{survey}", label="the owner's, empty answer"),
]

WORK = [  # the worklist: tasks assigned to someone, or offered to their roles; supervisors all
    case("/tasks/", "GET", {STAFF: 200}),
    case("/tasks/", "GET", {SUPERVISING: 200}, path="/tasks/?scope=all", label="scope=all"),
    case("/tasks/<task_id>", "GET", {roles(CS) | SUPERVISING: 200, STAFF: 404},
         path="/tasks/{register}", label="offered to customer service"),
    case("/tasks/<task_id>", "GET", {roles(TECH) | SUPERVISING: 200, STAFF: 404},
         path="/tasks/{work}", label="assigned to the technician"),
    # Personnel records: a supervisor reviews a technician's appraisal; the administrator,
    # who sees every other task, does not see this one.
    case("/tasks/<task_id>", "GET", {SUP: 200, STAFF: 404},
         path="/tasks/{review_liu}", label="appraisal review of another technician"),
    case("/tasks/<task_id>", "GET", {roles(MGR, SUP): 200, STAFF: 404},
         path="/tasks/{review_sup}", label="appraisal review of the supervisor (his own record)"),
    case("/tasks/<task_id>", "POST", {CS: 422, SUPERVISING: 403, STAFF: 404},
         path="/tasks/{register}", label="offered to customer service, empty form"),
    case("/tasks/<task_id>", "POST", {SUP: 422, STAFF: 404},
         path="/tasks/{review_liu}", label="appraisal review, empty form"),
    case("/tasks/<task_id>", "POST", {MGR: 422, SUP: 403, STAFF: 404},
         path="/tasks/{review_sup}", label="appraisal review of the supervisor, empty form"),
    case("/tasks/<task_id>/claim", "POST", {CS: 303, SUPERVISING: 403, STAFF: 404},
         path="/tasks/{register}/claim", restore=unclaiming("register")),
    case("/tasks/<task_id>/claim", "POST", {SUP: 303, STAFF: 404},
         path="/tasks/{review_liu}/claim", label="appraisal review", restore=unclaiming("review_liu")),
    case("/tasks/<task_id>/unclaim", "POST", {roles(TECH) | SUPERVISING: 303, STAFF: 404},
         path="/tasks/{work}/unclaim", restore=giving_back("work", "tech_chen")),
    case("/tasks/<task_id>/assign", "POST", {SUPERVISING: 303},
         path="/tasks/{register}/assign", label="nobody named"),
    # Nobody routes the review of their own appraisal (the administrator does not see it).
    case("/tasks/<task_id>/assign", "POST", {ADMIN: 404},
         path="/tasks/{review_sup}/assign", label="the supervisor's own appraisal review, nobody named"),
    case("/processes/", "GET", {STAFF: 200}),
    # A process the user may not start does not exist for them: 404.
    case("/processes/<key>/start", "GET", {STARTERS: 200, STAFF: 404}, path="/processes/rectification/start"),
    case("/processes/<key>/start", "POST", {STARTERS: 422, STAFF: 404},
         path="/processes/rectification/start", label="empty form"),
]

OVERSIGHT = [
    case("/dashboard/", "GET", {REVIEWERS: 200}),
    case("/dashboard/export.<fmt>", "GET", {REVIEWERS: 200}, path="/dashboard/export.csv"),
    case("/review/", "GET", {REVIEWERS: 302}),
    case("/review/processes", "GET", {REVIEWERS: 200}),
    case("/review/processes/<definition_id>", "GET", {REVIEWERS: 200}, path="/review/processes/{definition}"),
    case("/review/processes/<definition_id>/diagram.bpmn", "GET", {REVIEWERS: 200},
         path="/review/processes/{definition}/diagram.bpmn"),
    case("/review/cases", "GET", {REVIEWERS: 200}),
    case("/review/cases/<instance_id>", "GET", {REVIEWERS: 200}, path="/review/cases/{sr1}"),
    case("/review/cases/<instance_id>", "GET", {LEADS: 200, REVIEWERS: 404},
         path="/review/cases/{appraisal_liu}", label="a technician's appraisal"),
    case("/review/cases/<instance_id>/dossier.zip", "GET", {REVIEWERS: 200},
         path="/review/cases/{sr1}/dossier.zip"),
    case("/review/cases/<instance_id>/dossier.zip", "GET", {LEADS: 200, REVIEWERS: 404},
         path="/review/cases/{appraisal_liu}/dossier.zip", label="a technician's appraisal"),
    case("/archive/", "GET", {ARCHIVISTS: 200}),
    case("/archive/export.<fmt>", "GET", {ARCHIVISTS: 200}, path="/archive/export.csv"),
    case("/archive/dossiers.zip", "GET", {ARCHIVISTS: 200}),
    # A record: archivists, and its own author (customer service entered SR-3 by phone).
    case("/archive/records/<record_type>/<path:key>", "GET", {roles(CS) | ARCHIVISTS: 200},
         path="/archive/records/service_request/{sr3}", label="entered by customer service"),
    case("/archive/records/<record_type>/<path:key>", "POST", {roles(CS, SUP, MGR): 422},
         path="/archive/records/service_request/{sr3}", label="correction, empty form"),
    case("/archive/records/<record_type>/<path:key>", "GET", {LEADS: 200, QA: 404},
         path="/archive/records/appraisal/{appraisal_liu}", label="a technician's appraisal"),
    case("/archive/records/<record_type>/<path:key>", "POST", {MGR: 422, QA: 404},
         path="/archive/records/appraisal/{appraisal_liu}", label="a technician's appraisal, empty form"),
]

PERSONNEL = [  # a person's records: theirs, managers', and supervisors' for those they supervise
    case("/staff", "GET", {LEADS: 200}),
    case("/staff/me", "GET", {STAFF: 302}),
    case("/staff/<username>", "GET", {LEADS: 200}, path="/staff/tech_liu", label="another technician"),
    case("/staff/<username>", "GET", {LEADS: 200}, path="/staff/sup_zhao", label="the supervisor"),
    case("/staff/<username>", "GET", {roles(TECH) | LEADS: 200}, path="/staff/tech_chen",
         label="the technician"),
    case("/appraisals", "GET", {LEADS: 200}),
    case("/appraisals/<instance_id>", "GET", {roles(TECH) | LEADS: 200, STAFF: 404},
         path="/appraisals/{appraisal_chen}", label="the technician's own"),
    case("/appraisals/<instance_id>", "GET", {LEADS: 200, STAFF: 404},
         path="/appraisals/{appraisal_liu}", label="another technician's"),
    case("/appraisals/<instance_id>", "GET", {LEADS: 200, STAFF: 404},
         path="/appraisals/{appraisal_sup}", label="the supervisor's"),
    case("/appraisals/sanctions", "GET", {MGR: 200}),
    case("/appraisals/sanctions.csv", "GET", {MGR: 200}),
    case("/training/", "GET", {STAFF: 200}),
    case("/training/mine", "GET", {STAFF: 200}),
    case("/training/sessions/new", "GET", {LEADS: 200}),
    case("/training/sessions/new", "POST", {LEADS: 422}, label="empty form"),
    # Session 2 (past): the technician attended; organisers record results.
    case("/training/sessions/<int:session_id>", "GET", {roles(TECH) | LEADS: 200, STAFF: 404},
         path="/training/sessions/2"),
    case("/training/sessions/<int:session_id>", "POST", {LEADS: 422, TECH: 403, STAFF: 404},
         path="/training/sessions/2", label="invalid result", data={"tech_liu__assessment_score": "abc"}),
]

R = "/engine-rest"
API = [
    case(R + "/version", "GET", {SIGNED_IN: 200}),
    case(R + "/engine", "GET", {SIGNED_IN: 200}),
    case(R + "/<path:anything>", "GET", {SIGNED_IN: 404}, path=R + "/user/ghost", label="not served"),
    case(R + "/<path:anything>", "POST", {SIGNED_IN: 404}, path=R + "/user/create", label="not served"),
    case(R + "/<path:anything>", "PUT", {SIGNED_IN: 404}, path=R + "/user/ghost/profile", label="not served"),
    case(R + "/<path:anything>", "DELETE", {SIGNED_IN: 404}, path=R + "/process-instance/{sr1}",
         label="not served"),
    case(R + "/<path:anything>", "PATCH", {SIGNED_IN: 404}, path=R + "/user/ghost", label="not served"),
    # Deployments and definitions: staff read; process owners and administrators deploy.
    case(R + "/deployment", "GET", {STAFF: 200}),
    case(R + "/deployment/count", "GET", {STAFF: 200}),
    case(R + "/deployment/<deployment_id>", "GET", {STAFF: 200}, path=R + "/deployment/{deployment}"),
    case(R + "/deployment/create", "POST", {DEPLOYERS: 400}, label="no files"),
    case(R + "/process-definition", "GET", {STAFF: 200}),
    case(R + "/process-definition/count", "GET", {STAFF: 200}),
    case(R + "/process-definition/<definition_id>", "GET", {STAFF: 200},
         path=R + "/process-definition/{definition}"),
    case(R + "/process-definition/<definition_id>/xml", "GET", {STAFF: 200},
         path=R + "/process-definition/{definition}/xml"),
    case(R + "/process-definition/key/<key>", "GET", {STAFF: 200},
         path=R + "/process-definition/key/rectification"),
    case(R + "/process-definition/key/<key>/xml", "GET", {STAFF: 200},
         path=R + "/process-definition/key/rectification/xml"),
    case(R + "/process-definition/key/<key>/form-variables", "GET", {STAFF: 200},
         path=R + "/process-definition/key/rectification/form-variables"),
    # Starting: the process's starter groups, or an administrator; an unknown field is a 400.
    case(R + "/process-definition/key/<key>/start", "POST", {roles(ADMIN) | STARTERS: 400},
         path=R + "/process-definition/key/rectification/start", label="unknown field", data=UNKNOWN_FIELD),
    case(R + "/process-definition/<definition_id>/start", "POST", {roles(ADMIN) | STARTERS: 400},
         path=R + "/process-definition/{rectification_definition}/start", label="unknown field",
         data=UNKNOWN_FIELD),
    # Instances and history: everyone signed in may list (what they may see); one case
    # that is not theirs is a 404.
    case(R + "/process-instance", "GET", {SIGNED_IN: 200}),
    case(R + "/process-instance/count", "GET", {SIGNED_IN: 200}),
    case(R + "/process-instance/<instance_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path=R + "/process-instance/{sr1}", label="the owner's"),
    case(R + "/process-instance/<instance_id>", "GET", {OFFICE: 200}, default=404,
         path=R + "/process-instance/{sr4}", label="another owner's"),
    case(R + "/process-instance/<instance_id>", "GET", {LEADS: 200}, default=404,
         path=R + "/process-instance/{appraisal_liu}", label="another technician's appraisal"),
    case(R + "/process-instance/<instance_id>/variables", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path=R + "/process-instance/{sr1}/variables", label="the owner's"),
    case(R + "/process-instance/<instance_id>/variables", "GET", {LEADS: 200}, default=404,
         path=R + "/process-instance/{appraisal_liu}/variables", label="another technician's appraisal"),
    case(R + "/history/process-instance", "GET", {SIGNED_IN: 200}),
    case(R + "/history/process-instance/count", "GET", {SIGNED_IN: 200}),
    case(R + "/history/process-instance/<instance_id>", "GET", {roles(OWNER) | OFFICE: 200}, default=404,
         path=R + "/history/process-instance/{sr5}", label="the owner's, completed"),
    case(R + "/history/process-instance/<instance_id>", "GET", {LEADS: 200}, default=404,
         path=R + "/history/process-instance/{appraisal_liu}", label="another technician's appraisal"),
    case(R + "/history/activity-instance", "GET", {SIGNED_IN: 200}),
    case(R + "/history/activity-instance/count", "GET", {SIGNED_IN: 200}),
    # Tasks: as on the worklist; another's task is a 404.
    case(R + "/task", "GET", {SIGNED_IN: 200}),
    case(R + "/task/count", "GET", {SIGNED_IN: 200}),
    case(R + "/task/<task_id>", "GET", {roles(CS) | SUPERVISING: 200}, default=404,
         path=R + "/task/{register}", label="offered to customer service"),
    case(R + "/task/<task_id>", "GET", {SUPERVISING: 200}, default=404,
         path=R + "/task/{acceptance}", label="another owner's acceptance"),
    case(R + "/task/<task_id>", "GET", {SUP: 200}, default=404,
         path=R + "/task/{review_liu}", label="appraisal review of another technician"),
    case(R + "/task/<task_id>/form-variables", "GET", {roles(CS) | SUPERVISING: 200}, default=404,
         path=R + "/task/{register}/form-variables"),
    case(R + "/task/<task_id>/variables", "GET", {roles(CS) | SUPERVISING: 200}, default=404,
         path=R + "/task/{register}/variables"),
    case(R + "/task/<task_id>/variables", "GET", {SUP: 200}, default=404,
         path=R + "/task/{review_liu}/variables", label="appraisal review of another technician"),
    # Claiming for someone with no account: a supervisor is told it is not offered to them (400);
    # anyone else who sees the task may not claim for others (403).
    case(R + "/task/<task_id>/claim", "POST", {CS: 403, SUPERVISING: 400}, default=404,
         path=R + "/task/{register}/claim", label="for someone else", data={"userId": "ghost"}),
    case(R + "/task/<task_id>/unclaim", "POST", {roles(TECH) | SUPERVISING: 204}, default=404,
         path=R + "/task/{work}/unclaim", restore=giving_back("work", "tech_chen")),
    case(R + "/task/<task_id>/complete", "POST", {CS: 400, SUPERVISING: 403}, default=404,
         path=R + "/task/{register}/complete", label="unknown field", data=UNKNOWN_FIELD),
    case(R + "/task/<task_id>/submit-form", "POST", {CS: 400, SUPERVISING: 403}, default=404,
         path=R + "/task/{register}/submit-form", label="unknown field", data=UNKNOWN_FIELD),
    # External tasks: workers (the integration role) and administrators.
    case(R + "/external-task", "GET", {WORKERS: 200}),
    case(R + "/external-task/count", "GET", {WORKERS: 200}),
    case(R + "/external-task/<task_id>", "GET", {WORKERS: 200}, path=R + "/external-task/{external}"),
    case(R + "/external-task/fetchAndLock", "POST", {WORKERS: 200}, label="a topic with no work",
         data={**WORKER, "topics": [{"topicName": "matrix-none", "lockDuration": 1000}]}),
    case(R + "/external-task/<task_id>/complete", "POST", {WORKERS: 400},
         path=R + "/external-task/{external}/complete", label="not locked by this worker", data=WORKER),
    case(R + "/external-task/<task_id>/failure", "POST", {WORKERS: 400},
         path=R + "/external-task/{external}/failure", label="not locked by this worker", data=WORKER),
    case(R + "/external-task/<task_id>/bpmnError", "POST", {WORKERS: 400},
         path=R + "/external-task/{external}/bpmnError", label="no error code", data=WORKER),
    case(R + "/message", "POST", {STAFF: 400}, label="a message nobody waits for",
         data={"messageName": "MatrixNobodyWaits"}),
]

MATRIX = PUBLIC + ADMINISTRATION + CASES + WORK + OVERSIGHT + PERSONNEL + API


def _keyed(cases: list[Case], backend: str, *marks) -> list:
    return [pytest.param(backend, c, role, id=f"{backend}-{c.name} as {role}", marks=marks)
            for c in cases for role in ROLES]


# On PostgreSQL: the cases where a role is refused a record it could name (404), which is
# where the databases differ (the visibility and personnel filters are SQL over JSON).
ON_POSTGRESQL = [c for c in MATRIX if 404 in c.expected.values() and c.rule != R + "/<path:anything>"]


# --- where ----------------------------------------------------------------------------------------

# Tables a refused request must leave as they were (counts), and rows whose values matter.
_COUNTED = ("audit_event", "process_instance", "user_task", "deployment", "process_definition", "attachment",
            "service_case", "feedback_item", "correction", "training_session", "training_attendance",
            "training_need", "sanction", "app_user", "app_user_role", "app_user_skill", "external_task",
            "rectification_item")
_STATE = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in _COUNTED)
_ROWS = ("SELECT id, assignee FROM user_task ORDER BY id",
         "SELECT id, username, display_name, locale, active, password_hash FROM app_user ORDER BY id",
         "SELECT id, worker_id, retries FROM external_task ORDER BY id",
         "SELECT id, row_version, status FROM process_instance ORDER BY id")


class Site:
    """The app on the demo data (plus a feedback item, surveys, a photo, work dispatched to
    the technician and an external task), one signed-in browser per role, and the ids."""

    def __init__(self, app):
        self.app = app
        self.api = app.test_client(use_cookies=False)
        self.browsers: dict[str | None, Browser] = {}
        self.ids: dict[str, str] = {}
        self.locales: dict[str, str] = {}

    def browser(self, role: str) -> Browser:
        return self.person(ACCOUNTS.get(role))

    def person(self, username: str | None) -> Browser:
        """A browser signed in as ``username`` (None: nobody), kept for the module."""
        if username not in self.browsers:
            person = Browser(self.app)
            if username is not None:
                assert person.login(username).status_code == 302, username
            _fresh_token(person)
            self.browsers[username] = person
        return self.browsers[username]

    def post(self, username: str | None, path: str, data: Mapping | None = None):
        person = self.person(username)
        return person.client.post(path.format(**self.ids), data={**(data or {}), "csrf_token": person.token})

    def rest(self, username: str, method: str, path: str, json=None):
        return self.api.open(R + path.format(**self.ids), method=method, headers=basic(username), json=json)

    def state(self) -> tuple:
        with self.app.app_context():
            return (tuple(db.session.execute(text(_STATE)).one()),
                    *(tuple(map(tuple, db.session.execute(text(query)).all())) for query in _ROWS))

    def send(self, c: Case, role: str):
        path = c.path.format(**self.ids)
        if c.api:
            headers = basic(ACCOUNTS[role]) if role != ANON else {}
            return self.api.open(path, method=c.method, headers=headers,
                                 json=dict(c.data) if c.data is not None else None)
        if c.method == "GET":
            return self.browser(role).get(path)
        person = self.browser(role)
        if c.rule == "/logout":  # on a client of its own: the shared one stays signed in
            person = Browser(self.app)
            if role != ANON:
                person.login(ACCOUNTS[role])
            _fresh_token(person)
        return person.client.open(path, method=c.method, data={**(c.data or {}), "csrf_token": person.token})


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _fresh_token(person: Browser) -> None:
    """The CSRF token of the browser's current (signed-in) session, from the forms in the page
    header (here on the page for a path that does not exist, which every role gets)."""
    person.token = _TOKEN.search(person.get("/matrix-no-such-page").get_data(as_text=True)).group(1)


def _setup(app) -> Site:
    """Records the matrix needs beyond the demo's, made the way people make them."""
    site = Site(app)
    with app.app_context():
        worker = User(username=ACCOUNTS[INTEGRATION], display_name="Matrix worker", locale="en", active=True,
                      created_at=workflow_engine().clock.now())
        worker.set_password(DEMO_PASSWORD)
        worker.set_roles([Role.INTEGRATION])
        db.session.add(worker)
        db.session.commit()
        engine = workflow_engine()
        engine.deploy({"external_work.bpmn": (FIXTURES / "external_work.bpmn").read_bytes()}, name="external")
        site.ids["external"] = engine.external_tasks(instance_id=engine.start(
            "notify", {"phone": "13800000001"}, business_key="N-MATRIX").id, limit=1)[0].id
    owner = Browser(app)
    owner.login("owner_wang")
    sent = owner.post("/feedback/new", {"subject": "电梯噪音 Lift noise", "content": "电梯很吵 Noisy lift"},
                      page="/feedback/new")
    assert sent.status_code == 303, sent.status_code
    site.ids["feedback"] = sent.headers["Location"].rsplit("/", 1)[1]
    photo = owner.post("/requests/new", {**REQUEST, "photos": (io.BytesIO(PNG), "tap.png")},
                       page="/requests/new", content_type="multipart/form-data")
    assert photo.status_code in (302, 303), photo.status_code
    reviewer = Browser(app)
    reviewer.login("qa_sun")
    assert reviewer.post("/processes/satisfaction_survey/start", {},
                         page="/processes/satisfaction_survey/start").status_code == 303
    with app.app_context():
        engine = workflow_engine()

        def instance(key):
            return engine.instance(engine.find_instances(business_key=key)[0])

        def task(instance_view, element):
            return next(t for t in instance_view.open_tasks if t.element_id == element)

        sr1, sr3, sr4 = instance("SR-DEMO-001"), instance("SR-DEMO-003"), instance("SR-DEMO-004")
        engine.complete_user_task(task(sr3, "Task_Dispatch").id, {"technician": "tech_chen"}, user="sup_zhao")
        sr3 = engine.instance(sr3.id)
        [work] = [t for t in sr3.open_tasks if t.assignee == "tech_chen"]
        appraisals = {who: instance(f"AP-2025-12-{who}") for who in ("tech_chen", "tech_liu", "sup_zhao")}
        definition = engine.latest_definition("service_request")
        [attachment] = db.session.scalars(select(Attachment)).all()
        surveys = [engine.instance(i) for i in engine.find_instances(process_key="survey_questionnaire")]
        site.ids.update(
            sr1=sr1.id, sr3=sr3.id, sr4=sr4.id, sr5=instance("SR-DEMO-005").id,
            register=task(sr1, "Task_Register").id, acceptance=task(sr4, "Task_Acceptance").id, work=work.id,
            review_liu=task(appraisals["tech_liu"], "Task_ReviewBySupervisor").id,
            review_sup=task(appraisals["sup_zhao"], "Task_ReviewByManager").id,
            appraisal_chen=appraisals["tech_chen"].id, appraisal_liu=appraisals["tech_liu"].id,
            appraisal_sup=appraisals["sup_zhao"].id,
            definition=definition.id, deployment=definition.deployment_id,
            rectification_definition=engine.latest_definition("rectification").id,
            photo=attachment.id, photo_case=attachment.instance_id,
            training_need=engine.find_instances(process_key="training_need")[0],
            survey=next(s.id for s in surveys if s.variables.get("owner_id") == "owner_wang"),
            tech_liu_id=str(db.session.scalar(select(User.id).where(User.username == "tech_liu"))))
        site.locales = {u.username: u.locale for u in db.session.scalars(select(User))}
    return site


def _site(request, tmp_path_factory, backend: str) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("matrix")
    template = request.getfixturevalue("sqlite_demo_template" if backend == "sqlite" else "sqlite_template")
    with scratch_database(backend, template, folder) as url:
        app = create_app({"TESTING": True, "DATABASE_URL": url, "CLOCK": ManualClock(),
                          "UPLOAD_FOLDER": str(folder / "uploads"), "SECRET_KEY": "test"})
        try:
            if backend != "sqlite":  # SQLite's copy has the demo already
                result = app.test_cli_runner().invoke(args=["demo", "load"])
                assert result.exit_code == 0, result.output
            yield _setup(app)
        finally:
            with app.app_context():
                db.engine.dispose()


# One site per database for the whole module: the matrix reads and puts back what it changes.
@pytest.fixture(scope="module")
def sqlite_site(request, tmp_path_factory):
    yield from _site(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def postgresql_site(request, tmp_path_factory):
    yield from _site(request, tmp_path_factory, "postgresql")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request) -> Site:
    return request.getfixturevalue(f"{request.param}_site")


# --- the tests ------------------------------------------------------------------------------------

def _outcome(response) -> int | str:
    target = urlsplit(response.headers.get("Location", ""))
    if response.status_code == 302 and target.path == "/login" and "next=" in target.query:
        return LOGIN
    return response.status_code


@pytest.mark.parametrize(("backend", "c", "role"), _keyed(MATRIX, "sqlite")
                         + _keyed(ON_POSTGRESQL, "postgresql", pytest.mark.postgres))
def test_matrix(request, backend, c, role):
    """Each role gets exactly its outcome, and changes nothing (what an allowed request that
    writes changed is put back)."""
    site = request.getfixturevalue(f"{backend}_site")
    expected = c.expected[role]
    before = site.state()
    response = site.send(c, role)
    got = _outcome(response)
    assert got == expected, f"{c.name} as {role}: {got}, expected {expected}\n" + \
        response.get_data(as_text=True)[:500]
    if c.api and response.status_code >= 400:  # Camunda's error shape
        body = response.get_json()
        assert isinstance(body.get("type"), str) and isinstance(body.get("message"), str), body
    if got in REFUSED or response.status_code >= 400 or c.restore is None:
        assert site.state() == before, f"{c.name} as {role} ({got}) changed something"
    else:
        with site.app.app_context():
            c.restore(site)


def test_every_route_and_method_is_in_the_matrix(sqlite_site):
    """A new route (or a new method on one) needs its expected access stated above."""
    served = {(rule.rule, method) for rule in sqlite_site.app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    covered = {(c.rule, c.method) for c in MATRIX}
    missing = sorted(served - covered)
    assert not missing, "routes with no expected access in the matrix: " + ", ".join(
        f"{method} {rule}" for rule, method in missing)
    assert not covered - served, f"matrix entries for routes that do not exist: {sorted(covered - served)}"


def test_each_path_reaches_its_rule(sqlite_site):
    """Each case's request is routed to the rule it stands for (not a neighbour's, nor a 404)."""
    adapter = sqlite_site.app.url_map.bind("localhost")
    for c in MATRIX:
        path = c.path.format(**sqlite_site.ids).split("?")[0]
        rule, _ = adapter.match(path, method=c.method, return_rule=True)
        assert rule.rule == c.rule, f"{c.name}: {path} reaches {rule.rule}"


# --- object-level checks: whose record, not only which role -------------------------------------

def _ids_in(response, key: str = "id") -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return {item[key] for item in response.get_json()}


def test_a_technician_cannot_open_another_technicians_work_or_records(site):
    """tech_liu and the work dispatched to tech_chen; tech_chen and tech_liu's appraisal and
    training result — on the pages and through the API, one record at a time and in lists."""
    before = site.state()
    for path, expected in (("/tasks/{work}", 404), ("/requests/{sr3}", 404), ("/staff/tech_chen", 403),
                           ("/appraisals/{appraisal_chen}", 404), ("/review/cases/{sr3}", 403)):
        assert site.person("tech_liu").get(path.format(**site.ids)).status_code == expected, path
    assert site.post("tech_liu", "/tasks/{work}", {"work_content": "not mine"}).status_code == 404
    # Giving back someone else's task: hidden (404), or — to another candidate for it — refused
    # as held by someone else (a message on the worklist); either way it stays tech_chen's.
    assert site.post("tech_liu", "/tasks/{work}/unclaim").status_code in (303, 404)
    with site.app.app_context():
        assert workflow_engine().task(site.ids["work"]).assignee == "tech_chen"
    for method, path, body in (("GET", "/task/{work}", None), ("GET", "/process-instance/{sr3}", None),
                               ("GET", "/process-instance/{sr3}/variables", None),
                               ("POST", "/task/{work}/complete", {}), ("POST", "/task/{work}/unclaim", None)):
        assert site.rest("tech_liu", method, path, body).status_code == 404, path
    assert site.ids["work"] not in _ids_in(site.rest("tech_liu", "GET", "/task"))
    assert site.ids["work"] in _ids_in(site.rest("tech_chen", "GET", "/task"))  # the list does hold it
    assert site.ids["sr3"] not in _ids_in(site.rest("tech_liu", "GET", "/process-instance"))
    assert site.ids["sr3"] in _ids_in(site.rest("tech_chen", "GET", "/process-instance"))
    # tech_chen and tech_liu's records: the appraisal is hidden, the training result too.
    for method, path in (("GET", "/history/process-instance"), ("GET", "/process-instance")):
        assert site.ids["appraisal_liu"] not in _ids_in(site.rest("tech_chen", method, path)), path
        assert site.ids["appraisal_liu"] in _ids_in(site.rest("mgr_wu", method, path)), path
    session = site.person("tech_chen").get("/training/sessions/2").get_data(as_text=True)
    organiser = site.person("sup_zhao").get("/training/sessions/2").get_data(as_text=True)
    assert "Unsure of live-work steps" in organiser and "Unsure of live-work steps" not in session
    assert site.state() == before


def test_an_owner_cannot_see_another_owners_requests(site):
    """owner_li and owner_wang's request, photo, feedback and survey: 404 one at a time,
    absent from the lists, on the pages and through the API; posting changes nothing."""
    before = site.state()
    neighbour = site.person("owner_li")
    for path in ("/requests/{sr1}", "/requests/{photo_case}/photos/{photo}", "/requests/by-key/SR-DEMO-001",
                 "/feedback/{feedback}", "/feedback/survey/{survey}"):
        assert neighbour.get(path.format(**site.ids)).status_code == 404, path
    for path in ("/requests/{sr1}", "/feedback/{feedback}", "/feedback/survey/{survey}"):
        assert site.post("owner_li", path, {"satisfaction": "5", "acceptance": "accepted"}).status_code == 404
    assert "SR-DEMO-001" not in neighbour.get("/requests/").get_data(as_text=True)
    assert "SR-DEMO-001" in site.person("owner_wang").get("/requests/").get_data(as_text=True)
    assert site.ids["feedback"] not in neighbour.get("/feedback/").get_data(as_text=True)
    assert site.ids["feedback"] in site.person("owner_wang").get("/feedback/").get_data(as_text=True)
    for path in ("/process-instance/{sr1}", "/process-instance/{sr1}/variables",
                 "/history/process-instance/{sr5}"):
        assert site.rest("owner_li", "GET", path).status_code == 404, path
        assert site.rest("owner_wang", "GET", path).status_code == 200, path
    for path, own in (("/process-instance", "sr1"), ("/history/process-instance", "sr5")):
        assert site.ids[own] not in _ids_in(site.rest("owner_li", "GET", path)), path
        assert site.ids[own] in _ids_in(site.rest("owner_wang", "GET", path)), path
    activities = site.rest("owner_li", "GET", "/history/activity-instance").get_json()
    assert site.ids["sr1"] not in {a["processInstanceId"] for a in activities}
    assert site.ids["acceptance"] in _ids_in(site.rest("owner_li", "GET", "/task"))  # their own step
    assert site.ids["acceptance"] not in _ids_in(site.rest("owner_wang", "GET", "/task"))
    assert site.rest("owner_wang", "POST", "/task/{acceptance}/complete",
                     {"variables": {"acceptance": {"value": "accepted"}}}).status_code == 404
    assert site.state() == before


PERSONNEL_BLIND = ("qa_sun", "po_zhou", "admin", "cs_zhang", ACCOUNTS[INTEGRATION], "owner_wang")
# API lists, the field holding an instance's id, and who does see tech_liu's records there.
PERSONNEL_LISTS = (("/process-instance", "id", "mgr_wu"), ("/history/process-instance", "id", "mgr_wu"),
                   ("/history/activity-instance", "processInstanceId", "mgr_wu"),
                   ("/task", "processInstanceId", "sup_zhao"))
# Pages listing cases or tasks, and who does see tech_liu's appraisal there.
PERSONNEL_PAGES = {"qa_sun": ("/review/cases?process_key=appraisal", "mgr_wu"),
                   "po_zhou": ("/review/cases?process_key=appraisal", "mgr_wu"),
                   "admin": ("/tasks/?scope=all", "sup_zhao")}


@pytest.mark.parametrize("username", PERSONNEL_BLIND)
def test_personnel_processes_are_hidden_from_whom_they_are_not_about(site, username):
    """Technicians' appraisals and training needs: listed and shown to managers (and the
    supervisor), nowhere to the quality reviewer, process owner, administrator, customer
    service, an integration account or an owner — whichever page or list asks."""
    personnel = {site.ids["appraisal_liu"], site.ids["appraisal_chen"], site.ids["training_need"]}
    for path, key, lead in PERSONNEL_LISTS:
        assert site.ids["appraisal_liu"] in _ids_in(site.rest(lead, "GET", path), key), path
        assert not personnel & _ids_in(site.rest(username, "GET", path), key), path
    for path in ("/process-instance/{appraisal_liu}", "/history/process-instance/{training_need}",
                 "/task/{review_liu}", "/task/{review_liu}/form-variables"):
        assert site.rest(username, "GET", path).status_code == 404, path
    if username in ("admin", ACCOUNTS[INTEGRATION]):
        external = _ids_in(site.rest(username, "GET", "/external-task"))
        assert site.ids["external"] in external and not external & personnel
    if username in PERSONNEL_PAGES:
        listing, lead = PERSONNEL_PAGES[username]
        marker = site.ids["review_liu"] if username == "admin" else "AP-2025-12-tech_liu"
        assert marker in site.person(lead).get(listing).get_data(as_text=True)
        page = site.person(username).get(listing)
        assert page.status_code == 200 and marker not in page.get_data(as_text=True), listing


def test_pages_refuse_a_post_without_the_csrf_token_and_the_api_a_session_without_its_header(site):
    """A form posted from another site (the session cookie, no token) is refused and changes
    nothing; the API accepts a browser session only with the page's token in X-CSRFToken."""
    admin = site.person("admin")
    before = site.state()
    response = admin.client.post("/admin/users/new", data={
        "username": "csrf_victim", "display_name": "Forged", "password": "long-enough-pw",
        "roles": ["admin"], "locale": "en", "active": "y"})
    assert response.status_code == 400
    assert admin.client.post("/tasks/{register}/assign".format(**site.ids),
                             data={"assignee": "cs_zhang"}).status_code == 400
    supervisor = site.person("sup_zhao")
    claim = "/engine-rest/task/{register}/claim".format(**site.ids)
    forged = supervisor.client.post(claim, json={"userId": "cs_zhang"})
    assert forged.status_code == 403 and forged.get_json()["type"] == "AuthorizationException"
    assert site.state() == before
    # With the page's token, the same session gets past the check (to the body's 400).
    sent = supervisor.client.post(claim, json={}, headers={"X-CSRFToken": supervisor.token})
    assert sent.status_code == 400 and "userId" in sent.get_json()["message"]
    assert site.state() == before


def test_a_supervisor_cannot_route_the_review_of_his_own_appraisal(site):
    """sup_zhao may read his own appraisal's review task (his record), but not choose who
    reviews him: handing it to a manager, or taking it back from one, is refused on the
    worklist and through the API, and changes nothing."""
    before = site.state()
    assert site.post("sup_zhao", "/tasks/{review_sup}/assign", {"assignee": "mgr_wu"}).status_code == 403
    assert site.rest("sup_zhao", "POST", "/task/{review_sup}/claim", {"userId": "mgr_wu"}).status_code == 403
    assert site.state() == before
    with site.app.app_context():
        workflow_engine().claim(site.ids["review_sup"], user="mgr_wu")
    try:
        before = site.state()
        assert site.post("sup_zhao", "/tasks/{review_sup}/unclaim").status_code == 403
        assert site.rest("sup_zhao", "POST", "/task/{review_sup}/unclaim").status_code == 403
        assert site.state() == before
        page = site.person("sup_zhao").get("/tasks/{review_sup}".format(**site.ids))
        assert page.status_code == 200 and 'name="assignee"' not in page.get_data(as_text=True)
        # The same supervisor still routes the reviews of those he supervises.
        routed = site.post("sup_zhao", "/tasks/{review_liu}/assign", {"assignee": "sup_zhao"})
        assert routed.status_code == 303
    finally:
        with site.app.app_context():
            workflow_engine().unclaim(site.ids["review_sup"], user="matrix")
            workflow_engine().unclaim(site.ids["review_liu"], user="matrix")


def test_nobody_signals_their_own_training_need_closed(site):
    """tech_liu's open training need waits for TrainingCompleted (a passed result sends it):
    his own message through the API reaches nothing, and the need stays open."""
    before = site.state()
    sent = site.rest("tech_liu", "POST", "/message", {"messageName": "TrainingCompleted",
                                                      "processInstanceId": site.ids["training_need"]})
    assert sent.status_code == 400 and sent.get_json()["type"] == "RestException"
    assert site.state() == before
    with site.app.app_context():
        assert workflow_engine().instance(site.ids["training_need"]).status.value == "running"
