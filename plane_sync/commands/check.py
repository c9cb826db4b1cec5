"""``plane-sync check``: validate the config, reach Plane, check the key, resolve every work
item and print which folder goes where."""

from __future__ import annotations

import argparse

from plane_sync.config_types import Config
from plane_sync.runtime import open_client
from plane_sync.targets import WorkItemResolver, resolve_targets


def run(config: Config, args: argparse.Namespace) -> int:
    with open_client(config) as client:
        me = client.me()
        who = me.get("display_name") or me.get("email") or me.get("id")
        print(f"Plane {config.plane.url}: API key accepted (user {who}), "
              f"workspace {config.plane.workspace}")
        targets, problems = resolve_targets(config.folders, WorkItemResolver(client))
    rows = [(str(t.root), t.work_item.identifier or t.work_item.id, t.work_item.name)
            for t in targets]
    rows += [(str(p.path), p.label, f"{p.kind.upper()}: {p.reason}") for p in problems]
    if rows:
        widths = [max(len(r[i]) for r in [*rows, ("FOLDER", "WORK ITEM", "")])
                  for i in range(2)]
        print(f"{'FOLDER':<{widths[0]}}  {'WORK ITEM':<{widths[1]}}  TITLE")
        for folder, item, title in rows:
            print(f"{folder:<{widths[0]}}  {item:<{widths[1]}}  {title}")
    return 1 if any(p.kind != "unmapped" for p in problems) else 0
