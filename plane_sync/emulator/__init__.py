"""A Plane API server emulator (plus an S3-like storage host) for tests and demos.

It answers like the real Plane server recorded in plane-api-observed.md: status codes, bodies
and headers of the attachment flow, auth, rate limit, pagination and identifiers; its storage
host enforces presigned POST policies the way S3 does (moto does not).

    with Emulator(rate_limit=None) as emu:
        emu.url, emu.api_key, emu.workspace, emu.project_id, emu.work_items
        emu.faults.set(error_rate=0.2, seed=1)
        emu.requests(), emu.attachments(item_id), emu.stored_object(key)
"""

from __future__ import annotations

from plane_sync.emulator.app import Emulator
from plane_sync.emulator.faults import Faults
from plane_sync.emulator.views import sanitize_filename
from plane_sync.emulator.wire import RequestRecord

__all__ = ["Emulator", "Faults", "RequestRecord", "sanitize_filename"]
