"""The configuration as the rest of plane-sync sees it: frozen value types, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Files nobody wants attached to a work item: hidden files, editor swap/backup files,
# office lock files, half-finished downloads and OS metadata. Matched against file names.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".*", "*.swp", "*.swx", "*~", ".#*", "#*#", "~$*", ".~lock.*#",
    "*.tmp", "*.part", "*.crdownload", ".DS_Store", "Thumbs.db", "desktop.ini",
)  # fmt: skip

DEFAULT_REHASH_INTERVAL = 7 * 86400.0
DEFAULT_TRASH_KEEP = 30 * 86400.0
DEFAULT_IO_TIMEOUT = 30.0

OnChange = Literal["replace", "keep"]
OnDelete = Literal["keep", "delete"]
WatchMode = Literal["auto", "inotify", "poll"]
Direction = Literal["up", "both"]
LogFormat = Literal["auto", "console", "json"]


@dataclass(frozen=True)
class PlaneSettings:
    url: str  # base URL without /api/v1 and without a trailing slash
    api_key: str = field(repr=False)
    workspace: str
    ca_bundle: Path | None = None
    timeout: float = 30.0
    # (requests, per seconds): a ceiling under the server's own limit, which is learned from
    # its answers; None: the server's limit alone
    rate_limit: tuple[int, float] | None = None
    external_source: str = "plane-sync"
    file_size_limit: int | None = None  # None: learn it from the server
    recheck_share: float = 0.10  # of the rate budget, for listing unchanged work items
    upload_workers: int = 4  # uploads in flight at once
    max_upload_rate: int | None = None  # bytes a second to storage, all uploads together


@dataclass(frozen=True)
class SingleTarget:
    """One work item: by identifier ("PROJ-12"), or by project + work item UUIDs."""

    identifier: str | None = None
    project_id: str | None = None
    work_item_id: str | None = None


@dataclass(frozen=True)
class SubfolderTarget:
    """Each direct subfolder named "PROJ-42[ anything]" maps to that work item."""


@dataclass(frozen=True)
class FolderConfig:
    path: Path
    target: SingleTarget | SubfolderTarget
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    recurse: bool
    on_change: OnChange
    on_delete: OnDelete
    watch: WatchMode
    poll_interval: float
    settle: float
    rescan_interval: float
    key: str  # stable short id derived from the path, for the state database
    # Shares whose file keys cannot see every rewrite (FUSE): read every file again this
    # often (0: never). See local/filekeys.py.
    rehash_interval: float = DEFAULT_REHASH_INTERVAL
    # A filesystem call on the folder that has not returned after this long: the folder is
    # reported as not responding (a hung file server).
    io_timeout: float = DEFAULT_IO_TIMEOUT
    # up: the folder is mirrored into the work item; both: attachments also come down
    # (sync/twoway.py). Files removed by plane-sync go to the trash, kept this long.
    direction: Direction = "up"
    trash_keep: float = DEFAULT_TRASH_KEEP


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"  # debug, info, warning, error, critical
    format: LogFormat = "auto"


@dataclass(frozen=True)
class MetricsSettings:
    """``metrics:``: Prometheus text on /metrics and a health check on /healthz."""

    host: str
    port: int
    max_pass_age: float | None = None  # None: twice the folder's rescan_interval + 5 min


@dataclass(frozen=True)
class Config:
    plane: PlaneSettings
    state_dir: Path
    folders: tuple[FolderConfig, ...]
    log: LogSettings
    source: Path
    warnings: tuple[str, ...] = ()
    metrics: MetricsSettings | None = None
