"""``plane-sync verify [FOLDER] [--deep] [--json]``: does each work item hold exactly its
folder? An independent check (:mod:`plane_sync.sync.verify`): it re-reads every file, takes a
fresh listing, and reports every difference: missing, stale, extra, duplicate, pending.

Exit 0 only when nothing differs in any folder checked; 1 when something differs or a folder
could not be checked; 3 when Plane cannot be reached or rejects the key. It changes nothing,
takes no lock, and so runs beside the daemon (its listing counts against the rate limit)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from plane_sync.commands.selection import folder_selection
from plane_sync.config.types import Config
from plane_sync.errors import PlaneError
from plane_sync.service.runtime import open_client, open_state, size_limit_source
from plane_sync.sync.targets import WorkItemResolver, resolve_targets
from plane_sync.sync.verify_run import Verdict, verify_target


def run(config: Config, args: argparse.Namespace) -> int:
    chosen = folder_selection(config, [args.folder] if args.folder else [],
                              option="verify", empty_means_all=True)
    with open_client(config) as client:
        state = open_state(config)
        try:
            targets, problems = resolve_targets(config.folders,
                                                WorkItemResolver(client, dry_run=True))
            limits = size_limit_source(config, client)
            verdicts: list[Verdict] = []
            errors: list[tuple[str, str]] = []
            for target in targets:
                if not chosen(target):
                    continue
                try:
                    verdicts.append(verify_target(
                        client, state, target, limits,
                        external_source=config.plane.external_source, deep=args.deep))
                except PlaneError as exc:
                    errors.append((str(target.root), str(exc)))
        finally:
            state.close()
    broken = [p for p in problems if p.kind in ("unresolved", "unavailable", "conflict")]
    code = 0 if all(v.ok for v in verdicts) and not errors and not broken else 1
    if args.json:
        print(json.dumps(_as_json(verdicts, errors, broken, code), indent=2))
        return code
    for v in verdicts:
        print(f"{v.target.label}  {v.target.root}")
        if v.unavailable:
            print(f"  UNAVAILABLE  {v.unavailable}")
        for d in v.differences:
            print(f"  {d.kind:<10} {d.path}: {d.detail}")
        state_text = "the same" if v.ok else f"{len(v.differences)} difference(s)"
        print(f"  {v.files} file(s) compared: {state_text}")
    for path, error in errors:
        print(f"{path}\n  ERROR      {error}")
    for p in broken:
        print(f"{p.label}  {p.path}\n  {p.kind.upper():<10} {p.reason}")
    total = sum(len(v.differences) for v in verdicts)
    print(f"Verified {len(verdicts)} folder(s){' with --deep' if args.deep else ''}: "
          + ("no difference" if code == 0 else
             f"{total} difference(s), {len(errors) + len(broken)} folder(s) not checked"))
    return code


def _as_json(verdicts: list[Verdict], errors: list[tuple[str, str]], broken: list[Any],
             code: int) -> dict[str, Any]:
    return {
        "exit_code": code,
        "folders": [{"work_item": v.target.label, "path": str(v.target.root),
                     "key": v.target.key, "files": v.files, "unavailable": v.unavailable,
                     "differences": [{"kind": d.kind, "path": d.path, "detail": d.detail}
                                     for d in v.differences]} for v in verdicts],
        "errors": [{"path": p, "error": e} for p, e in errors],
        "problems": [{"path": str(p.path), "work_item": p.label, "kind": p.kind,
                      "reason": p.reason} for p in broken],
    }
