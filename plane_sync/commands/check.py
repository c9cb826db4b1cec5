"""``plane-sync check``: validate the config, reach Plane, check the key and the workspace,
resolve every work item and print which folder goes where. Sends no write request.

Exit 0 when every folder maps to a work item and exists, 1 when a work item cannot be found,
the workspace is not reachable with this key or a folder is missing; 3 (raised to the CLI)
when Plane cannot be reached or rejects the key."""

from __future__ import annotations

import argparse

from plane_sync.config.types import Config
from plane_sync.core.display import redact_url, visible
from plane_sync.errors import NotFound, PermissionDenied, PlaneError
from plane_sync.remote.client import parse_identifier
from plane_sync.service.runtime import open_client
from plane_sync.sync.targets import Target, TargetProblem, WorkItemResolver, resolve_targets

HEADER = ("FOLDER", "WORK ITEM", "TITLE")


def run(config: Config, args: argparse.Namespace) -> int:
    workspace = config.plane.workspace
    url = redact_url(config.plane.url)
    with open_client(config) as client:
        me = client.me()
        who = visible(me.get("display_name") or me.get("email") or me.get("id"))
        try:
            projects = client.list_projects()
        except (PermissionDenied, NotFound):
            # 403/404 on the workspace's project list: every folder would fail the same way.
            print(f"Plane {url}: API key accepted (user {who}), but workspace "
                  f"{workspace!r} does not exist or the key's user is not a member of it; "
                  "check plane.workspace (the first part of the path in Plane's web address)")
            return 1
        visible_projects = sorted(p.identifier for p in projects if p.identifier)
        print(f"Plane {url}: API key accepted (user {who}), workspace "
              f"{workspace} ({visible(_projects_phrase(visible_projects))})")
        targets, problems = resolve_targets(config.folders, WorkItemResolver(client))
    rows = [_target_row(t) for t in targets]
    rows += [_problem_row(p, visible_projects) for p in problems]
    # Paths come from the disk and titles from Plane: escaped, then aligned.
    rows = [(visible(folder), visible(item), visible(title)) for folder, item, title in rows]
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(2)]
    print(f"{HEADER[0]:<{widths[0]}}  {HEADER[1]:<{widths[1]}}  {HEADER[2]}")
    for folder, item, title in rows:
        print(f"{folder:<{widths[0]}}  {item:<{widths[1]}}  {title}")
    missing = [t for t in targets if not t.root.is_dir()]
    failed = [p for p in problems if p.kind != "unmapped"]
    bad = len(missing) + len(failed)
    if bad:
        print(f"{bad} folder(s) cannot be synced; fix the configuration and run check again")
        return 1
    print(f"OK: {len(targets)} folder(s) map to work items. Next: plane-sync sync --dry-run")
    return 0


def _projects_phrase(identifiers: list[str]) -> str:
    if not identifiers:
        return "the key's user sees no project in it"
    shown = ", ".join(identifiers[:10]) + (", ..." if len(identifiers) > 10 else "")
    return f"{len(identifiers)} project(s): {shown}"


def _target_row(target: Target) -> tuple[str, str, str]:
    item = target.work_item.identifier or target.work_item.id
    if not target.root.is_dir():
        what = "is not a directory" if target.root.exists() else "does not exist"
        return (str(target.root), item,
                f"MISSING: the folder {what} (not mounted yet? create it, or fix its path)")
    return (str(target.root), item, target.work_item.name)


def _problem_row(problem: TargetProblem, projects: list[str]) -> tuple[str, str, str]:
    reason = problem.reason
    if problem.kind == "unresolved":
        project = _project_of(problem.label)
        if project is not None and project not in projects:
            reason += f" Projects the key's user sees: {', '.join(projects) or 'none'}."
    return (str(problem.path), problem.label, f"{problem.kind.upper()}: {reason}")


def _project_of(label: str) -> str | None:
    """"PROJ-12" -> "PROJ"; None for a UUID pair or anything else."""
    try:
        return parse_identifier(label)[0]
    except PlaneError:
        return None
