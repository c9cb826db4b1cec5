"""Cleaning up after crashes: the journal, create intents, and orphans of file versions gone.

What the engine writes before each step (see :mod:`plane_sync.sync.engine`) is read back here,
against a fresh listing of the work item:

- a journalled attachment that is not listed was created but never completed: delete it;
- an intent whose external id is listed was completed (the crash came after the PATCH);
- an intent for a file version that no longer exists is swept with a probe create (its 409
  names the pending attachment), since no later upload of that version will ever meet it.

Intents left by an earlier process are *our* crashed creates: :attr:`Recovery.orphans` holds
them, and the engine treats a 409 on one of them as ours to delete and redo.
"""

from __future__ import annotations

import structlog

from plane_sync.core.identity import external_id_for
from plane_sync.core.mime import FALLBACK
from plane_sync.core.models import CreateConflict, RemoteAttachment
from plane_sync.errors import AuthError, PlaneError, PlaneUnreachable, RateLimited, ServerError
from plane_sync.local.scan import ScanResult
from plane_sync.remote.client import PlaneClient
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target

log = structlog.get_logger(__name__)


class Recovery:
    def __init__(self, client: PlaneClient, state: StateDB, *, external_source: str,
                 raise_server_errors: bool) -> None:
        self.client = client
        self.state = state
        self.external_source = external_source
        self.raise_server_errors = raise_server_errors
        # (work item id, external id) of creates that may have reached Plane without us
        # learning the attachment id: intents of an earlier process, and creates of this one
        # whose answer was lost.
        self.orphans = {(i.work_item_id, i.external_id) for i in state.intents()}

    def must_raise(self, exc: PlaneError) -> bool:
        """Whether a failed call ends the pass rather than this one step: the key or Plane is
        gone (always), or, for the daemon, the server is in trouble and the pass is redone
        after a backoff."""
        if isinstance(exc, AuthError | PlaneUnreachable):
            return True
        return self.raise_server_errors and isinstance(exc, ServerError | RateLimited)

    def recover(self, target: Target, remote: list[RemoteAttachment]) -> None:
        """Clean up after an earlier crash or failure, using this pass's listing."""
        work_item = target.work_item
        listed = {a.id for a in remote}
        for entry in self.state.journal_entries():
            if entry.work_item_id != work_item.id:
                continue
            if entry.attachment_id not in listed:
                # Created but never completed (or completed without its bytes): remove it.
                try:
                    self.client.delete_attachment(work_item, entry.attachment_id)
                except PlaneError as exc:
                    if self.must_raise(exc):
                        raise  # the daemon backs off and comes back to this pass
                    # Keep the entry and try again next pass; the sync itself can go on.
                    log.warning("journal.clean_failed", attachment_id=entry.attachment_id,
                                work_item=target.label, error=str(exc))
                    continue
                log.info("journal.cleaned", attachment_id=entry.attachment_id,
                         path=entry.rel_path, work_item=target.label)
            self.state.journal_remove(entry.attachment_id)
        # An intent whose external id is listed was completed (the crash came after the
        # PATCH): nothing of ours can be pending under that id, so a later 409 on it must
        # not be mistaken for our orphan (it would be another machine's upload).
        completed = {a.external_id for a in remote
                     if a.external_source == self.external_source and a.external_id}
        for intent in self.state.intents():
            if intent.work_item_id == work_item.id and intent.external_id in completed:
                self.state.intent_remove(work_item.id, intent.external_id)
                self.orphans.discard((work_item.id, intent.external_id))
        # Another machine's pending uploads that have since completed.
        for pending in self.state.pending(target.key):
            if pending.attachment_id in listed:
                self.state.clear_pending(target.key, pending.attachment_id)

    def sweep_orphans(self, target: Target, scan: ScanResult, unsettled: set[str]) -> None:
        """Our crashed creates for file versions that no longer exist.

        A create whose answer was lost left a pending attachment whose id we never learnt;
        normally the next upload of that file meets it as a 409 and deletes it. When the
        file was deleted or changed meanwhile, no upload ever will: ask Plane for the id by
        creating under the same external id (409 names it; a 200 means there was none and
        this probe is the pending one), then delete it. The intent stays until the delete
        succeeded, so a crash here is swept next time.
        """
        work_item = target.work_item
        current = {external_id_for(f.rel_path, f.sha256) for f in scan.files if f.sha256}
        for intent in self.state.intents():
            key = (work_item.id, intent.external_id)
            if (intent.work_item_id != work_item.id or key not in self.orphans
                    or intent.external_id in current or intent.rel_path in unsettled):
                continue
            try:
                probe = self.client.create_attachment(
                    work_item, name="plane-sync-orphan", mime_type=FALLBACK, size=1,
                    external_id=intent.external_id, external_source=self.external_source)
                victim = (probe.existing_id if isinstance(probe, CreateConflict)
                          else probe.attachment_id)
                self.client.delete_attachment(work_item, victim)
            except PlaneError as exc:
                if self.must_raise(exc):
                    raise
                log.warning("orphan.sweep_failed", path=intent.rel_path,
                            work_item=target.label, error=str(exc))
                continue
            log.info("orphan.swept", path=intent.rel_path, work_item=target.label,
                     attachment_id=victim)
            self.state.intent_remove(work_item.id, intent.external_id)
            self.orphans.discard(key)
