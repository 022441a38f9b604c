"""SQLModel tables. Import from here so every table is registered with the metadata."""

from models import newest_report  # noqa: F401  (the triggers that keep Milestone.latest_*)
from models.inbound import InboundMessage
from models.outbox import Notification
from models.people import Contact, ListedMilestone, ProgressReport
from models.plan import Department, DepartmentAlias, Milestone, Plan, Task, TaskDepartment
from models.planning import PlannedThrough, PlanningChange, PlanningGap, PlanningInputs
from models.robots import GroupRobot, RobotPlatform
from models.types import (
    ContactRole,
    DepartmentRole,
    MilestoneStatus,
    Recurrence,
    ReportStatus,
    Section,
    utcnow,
)
from models.web import WebLogin, WebSession
from models.workflow import AuditEntry, CloseoutRequest, CloseoutStatus, EscalationStep, Invite, Lease

__all__ = [
    "AuditEntry",
    "CloseoutRequest",
    "CloseoutStatus",
    "EscalationStep",
    "GroupRobot",
    "InboundMessage",
    "Invite",
    "Lease",
    "ListedMilestone",
    "Contact",
    "ContactRole",
    "Department",
    "DepartmentAlias",
    "DepartmentRole",
    "Milestone",
    "MilestoneStatus",
    "Notification",
    "Plan",
    "PlannedThrough",
    "PlanningChange",
    "PlanningGap",
    "PlanningInputs",
    "ProgressReport",
    "Recurrence",
    "ReportStatus",
    "RobotPlatform",
    "Section",
    "Task",
    "TaskDepartment",
    "WebLogin",
    "WebSession",
    "utcnow",
]
