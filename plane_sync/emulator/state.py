"""In-memory data of the emulated Plane instance: one workspace, its projects, work items and
attachment rows. Every method takes the lock, so the threaded listeners can share one State."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

WORK_ITEM_STATES = ("normal", "triage", "archived", "draft")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Project:
    id: str
    identifier: str
    name: str
    workspace_id: str
    sort_order: float
    default_state_id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    next_sequence: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "identifier": self.identifier, "name": self.name,
            "description": "", "network": 2, "workspace": self.workspace_id,
            "archived_at": None, "is_member": True, "member_role": 20,
            "sort_order": self.sort_order, "created_at": self.created_at,
            "updated_at": self.created_at,
        }


@dataclass
class WorkItem:
    id: str
    project: Project
    sequence_id: int
    name: str
    kind: str  # one of WORK_ITEM_STATES; only "normal" is visible to issue_objects
    description_html: str = "<p></p>"
    created_at: str = field(default_factory=now_iso)

    @property
    def identifier(self) -> str:
        return f"{self.project.identifier}-{self.sequence_id}"

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id, "identifier": self.identifier, "name": self.name,
            "project_id": self.project.id,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "sequence_id": self.sequence_id, "name": self.name,
            "description_html": self.description_html, "state": self.project.default_state_id,
            "project": self.project.id, "workspace": self.project.workspace_id,
            "priority": "none", "assignees": [], "labels": [], "type_id": None, "parent": None,
            "external_id": None, "external_source": None, "is_draft": self.kind == "draft",
            "archived_at": self.created_at if self.kind == "archived" else None,
            "created_at": self.created_at, "updated_at": self.created_at,
        }


@dataclass
class Attachment:
    id: str
    issue_id: str
    project_id: str
    workspace_id: str
    name: str
    mime_type: str
    size: int | float
    asset: str
    external_id: Any
    external_source: Any
    created_by: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    deleted_at: str | None = None
    is_uploaded: bool = False
    storage_metadata: dict[str, Any] | None = field(default_factory=dict)
    updated_by: str | None = None

    def to_json(self, *, as_listed: bool = True) -> dict[str, Any]:
        # The list shows attributes in Postgres jsonb key order; the create answer in insert order.
        attributes = (
            {"name": self.name, "size": self.size, "type": self.mime_type}
            if as_listed
            else {"name": self.name, "type": self.mime_type, "size": self.size}
        )
        return {
            "id": self.id, "created_at": self.created_at, "updated_at": self.updated_at,
            "deleted_at": self.deleted_at, "attributes": attributes, "asset": self.asset,
            "entity_type": "ISSUE_ATTACHMENT", "entity_identifier": None,
            "is_deleted": self.deleted_at is not None, "is_archived": False,
            "external_id": self.external_id, "external_source": self.external_source,
            "size": float(self.size), "is_uploaded": self.is_uploaded,
            "storage_metadata": self.storage_metadata, "created_by": self.created_by,
            "updated_by": self.updated_by, "user": None, "workspace": self.workspace_id,
            "draft_issue": None, "project": self.project_id, "issue": self.issue_id,
            "comment": None, "page": None,
        }


class State:
    def __init__(self, workspace: str) -> None:
        self.lock = threading.RLock()
        self.workspace_slug = workspace
        self.workspace_id = new_id()
        self.user_id = new_id()
        self.projects: dict[str, Project] = {}
        self.items: dict[str, WorkItem] = {}
        self.attachments: dict[str, Attachment] = {}
        self._by_issue: dict[str, list[Attachment]] = {}  # creation order

    def user_json(self) -> dict[str, Any]:
        return {
            "id": self.user_id, "first_name": "Emu", "last_name": "Lator",
            "email": "emulator@example.com", "avatar": "", "avatar_url": None,
            "display_name": "emulator",
        }

    def add_project(self, identifier: str, name: str) -> Project:
        with self.lock:
            identifier = identifier.strip().upper()
            if any(p.identifier == identifier for p in self.projects.values()):
                raise ValueError(f"project identifier {identifier!r} already exists")
            project = Project(
                new_id(), identifier, name, self.workspace_id, 10000.0 * (len(self.projects) + 1)
            )
            self.projects[project.id] = project
            return project

    def add_work_item(
        self, project_id: str, name: str, kind: str = "normal", description_html: str = "<p></p>"
    ) -> WorkItem:
        if kind not in WORK_ITEM_STATES:
            raise ValueError(f"state must be one of {WORK_ITEM_STATES}")
        with self.lock:
            project = self.projects[project_id]
            item = WorkItem(new_id(), project, project.next_sequence, name, kind, description_html)
            project.next_sequence += 1
            self.items[item.id] = item
            return item

    def project_by_identifier(self, identifier: str) -> Project | None:
        with self.lock:
            return next((p for p in self.projects.values() if p.identifier == identifier), None)

    def visible_items(self, project_id: str) -> list[WorkItem]:
        """Work items issue_objects shows (no triage/archived/draft), newest first."""
        with self.lock:
            found = [
                i for i in self.items.values() if i.project.id == project_id and i.kind == "normal"
            ]
        return sorted(found, key=lambda i: i.sequence_id, reverse=True)

    def issue(self, slug: str, project_id: str, issue_id: str) -> WorkItem | None:
        """Lookup like ``Issue.objects`` (includes triage, archived and draft items)."""
        with self.lock:
            item = self.items.get(issue_id)
        if slug != self.workspace_slug or item is None or item.project.id != project_id:
            return None
        return item

    def live_attachment(self, slug: str, project_id: str, attachment_id: str) -> Attachment | None:
        """``FileAsset.objects.get(pk, workspace__slug, project_id)``: the issue does not matter."""
        with self.lock:
            row = self.attachments.get(attachment_id)
        if (
            slug != self.workspace_slug or row is None or row.project_id != project_id
            or row.deleted_at is not None
        ):
            return None
        return row

    def add_attachment(self, row: Attachment) -> None:
        with self.lock:
            self.attachments[row.id] = row
            self._by_issue.setdefault(row.issue_id, []).append(row)

    def rows_of_issue(self, issue_id: str) -> list[Attachment]:
        """Every row of an issue (pending and deleted too), newest first."""
        with self.lock:
            return list(reversed(self._by_issue.get(issue_id, ())))
