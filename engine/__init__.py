"""Propflow's workflow engine: the only package that talks to SpiffWorkflow.

Use :class:`WorkflowEngine`; it returns the views in :mod:`engine.views` and raises the
errors in :mod:`engine.errors`.
"""

from .clock import Clock, ManualClock, SystemClock
from .db import make_engine, upgrade_schema
from .errors import (
    ConcurrentUpdate,
    Conflict,
    DiagramProblem,
    EngineError,
    InstanceNotFound,
    InstanceNotRunning,
    InvalidDiagram,
    InvalidTaskData,
    NotFound,
    ProcessNotFound,
    ScriptError,
    TaskAlreadyClaimed,
    TaskNotFound,
    TaskNotReady,
)
from .external import (
    Correlation,
    ExternalTaskView,
    LockedByAnotherWorker,
    MessageNotCorrelated,
    TopicRequest,
    Transaction,
)
from .facade import WorkflowEngine
from .forms import FormDefinition, FormField, condition_holds
from .models import AuditAction, InstanceStatus
from .views import (
    AuditEntry,
    ChainBreak,
    ChainReport,
    InstanceView,
    Notice,
    ServiceCall,
    TaskFilter,
    TaskView,
)

__all__ = [
    "AuditAction",
    "AuditEntry",
    "ChainBreak",
    "ChainReport",
    "Clock",
    "ConcurrentUpdate",
    "Conflict",
    "Correlation",
    "DiagramProblem",
    "EngineError",
    "ExternalTaskView",
    "FormDefinition",
    "FormField",
    "InstanceNotFound",
    "InstanceNotRunning",
    "InstanceStatus",
    "InstanceView",
    "InvalidDiagram",
    "InvalidTaskData",
    "LockedByAnotherWorker",
    "ManualClock",
    "MessageNotCorrelated",
    "NotFound",
    "Notice",
    "ProcessNotFound",
    "ScriptError",
    "ServiceCall",
    "SystemClock",
    "TaskAlreadyClaimed",
    "TaskFilter",
    "TaskNotFound",
    "TaskNotReady",
    "TaskView",
    "TopicRequest",
    "Transaction",
    "WorkflowEngine",
    "condition_holds",
    "make_engine",
    "upgrade_schema",
]
