"""The long-running service: watch, settle, reconcile, rescan; signals and sd_notify.

Order at start-up: lock the state directory, start the watchers (so nothing written during the
first scan is missed), say READY, then reconcile every folder once (catching up on what
happened while we were down), then react to batches of hints. A jittered periodic rescan of
every folder catches whatever a watcher missed (an inotify overflow or more hints than the
queue's cap already arrive as "rescan this folder").

Events are hints: a batch only marks a target dirty, and a pass scans it. A pass asks Plane
for the work item's attachments only when the folder changed since its last clean pass, so
rescans of unchanged folders cost no request; re-checks list unchanged work items anyway, the
oldest first, within a share of the rate budget (:mod:`plane_sync.service.recheck`), and a
rescan asked for with ``plane-sync rescan`` (or ``resume``) lists every work item of the
folder. A file is uploaded
once its size and mtime have held still for ``settle`` seconds, as a per-folder Settler sees
them over successive passes (on local disks a ctime older than ``settle`` is proof enough; on
network shares the server's clock is not trusted, so a file is looked at twice); the upload then
re-checks size and hash. A pass that finds files still changing looks again ``settle`` later,
and a file that never settles is taken as it is after ``CHANGING_MAX_WAIT`` (see
:func:`plane_sync.local.settle.folder_settler`).

Passes run one after another, each on a thread of its own that this loop waits for
(:mod:`plane_sync.service.folder_jobs`), so a share that hangs holds that thread, never the
loop: signals, status and the other folders go on, and the folder is reported as not
responding (:mod:`plane_sync.local.iowatch`). Passes of one target are bounded per minute and
watched for loops (:mod:`plane_sync.service.passes`). A pass hands its uploads to the upload
workers (:mod:`plane_sync.service.uploads`), which share the rate limiter and whose reads count
for the folder's watchdog, and waits for them, except for large files, which go on in the
background while other folders are synced. Each upload writes its own journal rows. Signals
are acted on by a relay thread (:mod:`plane_sync.service.signals`) that only sets flags:
SIGTERM/SIGINT stop taking work and leave the running uploads ``stop_deadline`` seconds to
finish (after it, the process exits 0 and the journal makes the next start clean up); SIGHUP
reloads the config (an invalid one is refused, the old one keeps running).

What a failure stops depends on its kind (:mod:`plane_sync.service.troubles`): Plane trouble
backs every pass off, a share's I/O error retries that folder, a rejected key ends the run. A
storage host that refuses upload policies as expired pauses uploads only (see
:mod:`plane_sync.sync.engine`): the pass goes on, and the target's next pass comes when the
pause ends, its first upload the probe.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import structlog

from plane_sync.config.types import Config, FolderConfig
from plane_sync.errors import (
    AuthError,
    Interrupted,
    PlaneError,
    StateError,
    UploadError,
)
from plane_sync.local.batching import Batch, ChangeQueue
from plane_sync.local.iowatch import FolderNotResponding, IOWatch
from plane_sync.local.watch import Watcher
from plane_sync.remote.client import PlaneClient
from plane_sync.service.activity import Activity
from plane_sync.service.availability import apply_status
from plane_sync.service.control_plane import serving
from plane_sync.service.folder_jobs import FolderJobs
from plane_sync.service.folders import FolderRun, say_problems
from plane_sync.service.heartbeat import Heartbeat
from plane_sync.service.live import LiveStatus
from plane_sync.service.notes import Notes
from plane_sync.service.pass_outcome import PassOutcome
from plane_sync.service.passes import PassGovernor
from plane_sync.service.pauses import Pauses
from plane_sync.service.recheck import Rechecks
from plane_sync.service.reload import quiet_for, read_new_config
from plane_sync.service.runtime import StateLock, open_client, open_state, size_limit_source
from plane_sync.service.scheduler import Scheduler
from plane_sync.service.sdnotify import Notifier
from plane_sync.service.signals import install_handlers
from plane_sync.service.state_guard import StateDirGuard
from plane_sync.service.steering import PassGate, Steering
from plane_sync.service.troubles import Troubles
from plane_sync.service.uploads import DaemonUploads
from plane_sync.sync.conditions import Conditions
from plane_sync.sync.engine import Engine
from plane_sync.sync.outcome import PassReport, Progress
from plane_sync.sync.state import StateDB
from plane_sync.sync.targets import Target, WorkItemResolver, resolve_targets

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_INTERRUPTED = 0, 130  # 130: stopped by Ctrl-C (SIGINT), as a shell expects
STOP_DEADLINE = 30.0  # seconds the running upload gets after SIGTERM


class Daemon:
    def __init__(self, config: Config, *, notifier: Notifier | None = None,
                 stop_deadline: float = STOP_DEADLINE, rescan_jitter: float = 0.1,
                 on_pass: Callable[[PassReport], None] | None = None) -> None:
        self.config = config
        self.notifier = notifier or Notifier.from_env()
        self.stop_deadline = stop_deadline
        self.rescan_jitter = rescan_jitter
        self.on_pass = on_pass
        self.queue = ChangeQueue(quiet=quiet_for(config))
        self.io = IOWatch()  # a watchdog on each folder's filesystem calls
        self.watcher = Watcher(self.queue, io=self.io)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._folders: dict[str, FolderRun] = {}
        self.schedule = Scheduler()
        self.governor = PassGovernor()
        self._client: PlaneClient | None = None
        self._state: StateDB | None = None
        self._engine: Engine | None = None
        self._resolver: WorkItemResolver | None = None  # work items looked up, kept
        self.rechecks = Rechecks(config.plane.recheck_share, rate=lambda: 0.0)
        self.activity = Activity(self.notifier)
        self.heartbeat = Heartbeat(self.notifier, self._stop)
        self.notes = Notes(config.state_dir)  # lasting conditions shown by `status`
        # Passes run on threads a hung share may hold; the loop waits for them, answering
        # signals and availability changes meanwhile (see service/folder_jobs.py).
        self.jobs = FolderJobs(self._stop, while_waiting=self._take_status,
                               on_progress=self.heartbeat.touch)
        self._initial_sync_done = False
        self._stop_signal = ""
        self.conditions = Conditions(log)  # lasting conditions are said once
        # Steering from outside (control socket, metrics): see service.steering.
        self.pauses = Pauses(config.state_dir)
        self.live = LiveStatus(activity=lambda: self.activity.current, pauses=self.pauses,
                               worker_alive_at=lambda: self.heartbeat.alive_at)
        self.gate = PassGate(self._stop, self.pauses)
        self.uploads = DaemonUploads(config, wake=self.queue.wake,
                                     stop_for=lambda t: self.gate.for_folder(t.folder.path))
        self.live.transfers = self.uploads.pool
        self.steering = Steering(state_dir=config.state_dir, pauses=self.pauses, live=self.live,
                                 folders=lambda: self.config.folders, wake=self.queue.wake)
        self._verify_due: set[str] = set()
        self.troubles = Troubles(self.schedule, self.live, self.activity, self.conditions,
                                 self._stop)
        self.outcome = PassOutcome(self.schedule, self.governor, self.rechecks, self.live,
                                   self._stop, self._verify_due, on_pass)
        self.guard: StateDirGuard

    # -- lifecycle --------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()
        self.queue.wake()

    def request_reload(self) -> None:
        self._reload.set()
        self.queue.wake()

    def install_signal_handlers(self) -> None:
        install_handlers(stopping=self._stop.is_set, stop=self._stop_by_signal,
                         reload=self.request_reload, deadline=self.stop_deadline,
                         past_deadline=self._deadline_passed)

    def _stop_by_signal(self, name: str) -> None:
        self._stop_signal = name  # logged by the loop as "daemon.stopping"
        self.request_stop()

    def _deadline_passed(self) -> None:
        log.warning("daemon.deadline", seconds=self.stop_deadline,
                    note="exiting with an upload in flight; the journal cleans it up next start")
        self.notifier.stopping()
        os._exit(self._exit_code())

    def _exit_code(self) -> int:
        return EXIT_INTERRUPTED if self._stop_signal == "SIGINT" else EXIT_OK

    def run(self) -> int:
        """Run until stopped; 0 on a clean stop. Raises AuthError when the key is rejected."""
        with StateLock(self.config.state_dir) as lock, \
                serving(self.config, self.steering, self.live):
            self._state = open_state(self.config)
            self.notes.clear_all()
            self.activity.state = self._state
            self._client = open_client(self.config, sleep=self._sleep_unless_stopping)
            self.live.rate_usage = self._client.limiter.usage
            limiter = self._client.limiter
            self.rechecks.rate = lambda: limiter.per_second
            self.live.rate_source = lambda: limiter.limit.source
            self.live.pace = lambda: self.uploads.pace(limiter)
            self.guard = StateDirGuard(lock, self._state, stop=self._stop)
            self.guard.start()
            try:
                code = self._run()
            finally:
                if self._stop_signal:
                    log.info("daemon.stopping", signal=self._stop_signal,
                             deadline=self.stop_deadline)
                self.activity.set("stopped")
                self._stop.set()  # ends the heartbeat
                self.heartbeat.join()
                self.guard.join()
                self.notifier.stopping()
                self.watcher.stop()
                self.uploads.close(self.stop_deadline)  # before the client and the database
                self.io.stop()
                self._client.close()
                self._state.close()
                self.notifier.close()
        if self.troubles.fatal_error is not None:
            raise self.troubles.fatal_error
        log.info("daemon.stopped", exit_code=code)
        stuck = self.jobs.stuck()
        if stuck:
            log.warning("daemon.io_stuck", folders=stuck,
                        note="a filesystem call on these folders has not returned: the "
                             "process ends once it does (the kernel holds it until then)")
        return code

    def _run(self) -> int:
        self.activity.set("starting watchers")
        for folder in self.config.folders:
            self._add_folder(folder)
        self.watcher.start()
        self.io.start(self.queue)
        self.notifier.ready()
        self.heartbeat.start()
        log.info("daemon.ready", folders=len(self._folders))
        self.steering.announce_pauses()
        self.activity.set("initial sync")
        now = time.monotonic()
        for run in self._folders.values():
            run.next_rescan = now  # the catch-up pass
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self._do_reload()
            self._tick(time.monotonic())
            self.notes.record_restarts(self.watcher.revive())  # a dead watcher thread
            if self._stop.is_set():
                break
            self._became_idle()
            self._publish()
            self.queue.wait(timeout=self._sleep_time(time.monotonic()))
            self.heartbeat.touch()
        return self._exit_code()

    def _publish(self) -> None:
        self.live.publish(self._folders, self.schedule)

    def _became_idle(self) -> None:
        now = time.monotonic()
        if self.schedule.busy(now) or self.schedule.backing_off(now):
            return
        # Done once every folder was mapped and no file still waits to settle (on a share
        # every file waits on the first pass: nothing was uploaded yet).
        if not self._initial_sync_done and all(
                (r.resolved and not r.waiting_streak) or not r.available
                for r in self._folders.values()):
            self._initial_sync_done = True
            log.info("daemon.initial_sync_done", folders=len(self._folders))
        self.activity.set("paused: every folder" if self.pauses.snapshot().all
                          else "idle, watching")

    # -- folders ----------------------------------------------------------------------------

    def _add_folder(self, folder: FolderConfig) -> None:
        self.io.folder(folder.key, folder.io_timeout)
        watch = self.watcher.add(folder.key, folder.path, folder.watch, folder.poll_interval)
        log.info("watch.added", folder=str(folder.path), mode=watch.mode, reason=watch.reason)
        self._folders[folder.key] = FolderRun.start(folder, watch_mode=watch.mode,
                                                    now=time.monotonic())

    def _remove_folder(self, key: str, *, forget: bool = False) -> None:
        """Stop watching a folder; ``forget``: it left the configuration, so its status,
        failures and hashes go too (`status` would show it for ever otherwise)."""
        self.watcher.remove(key)
        self.io.remove(key)
        run = self._folders.pop(key)
        for target_key in run.targets:
            self.schedule.forget(target_key)
            self.rechecks.forget(target_key)
            self.governor.forget(target_key)
            if forget and self._state is not None:
                self._state.remove_folder(target_key)
                if self._engine is not None:
                    self._engine.forget_target(target_key)
                self.live.forget(target_key)
        log.info("watch.removed", folder=str(run.folder.path))

    def _do_reload(self) -> None:
        """Re-read the config (see :mod:`plane_sync.service.reload`); an exception while
        applying it is logged and leaves the folders as far as they got."""
        new = read_new_config(self.config, self.activity, self.notes)
        if new is None:
            return
        self.notifier.reloading()
        try:
            self._apply_config(new)
        except Exception:
            log.exception("config.reload_failed",
                          note="some folders may still run with the previous settings; "
                               "send SIGHUP again or restart")
        self.notifier.ready()

    def _apply_config(self, new: Config) -> None:
        old = {f.key: f for f in self.config.folders}
        fresh = {f.key: f for f in new.folders}
        for key in old.keys() - fresh.keys():
            self._remove_folder(key, forget=True)
        for key, folder in fresh.items():
            if key in old and old[key] != folder:
                self._remove_folder(key)
            if key not in self._folders:
                self._add_folder(folder)  # its first rescan is due now
        self.config = new
        self._resolver = None  # look the work items up again: the mapping may have changed
        self.uploads.reconfigure(new)
        self.rechecks.share = new.plane.recheck_share
        self.queue.quiet = quiet_for(new)
        log.info("config.reloaded", folders=len(new.folders),
                 added=sorted(str(fresh[k].path) for k in fresh.keys() - old.keys()),
                 removed=sorted(str(old[k].path) for k in old.keys() - fresh.keys()))

    # -- the work ---------------------------------------------------------------------------

    def _take_status(self) -> None:
        """Folders that went away or came back (also while a pass runs)."""
        for status in self.queue.take_status():
            run = self._folders.get(status.key)
            if run is not None:
                apply_status(status, run, time.monotonic(), self.schedule, self.activity)

    def _tick(self, now: float) -> None:
        for finished in self.uploads.take_finished():
            mapped = self._target(finished.target.key) is not None
            self.troubles.background_finished(finished, now, mapped=mapped)
        for key in self.steering.take_rescans():  # asked for on the control socket
            if key in self._folders:
                self._folders[key].next_rescan = now
                self._folders[key].listing_asked = True  # the user may have changed Plane
        self._take_status()
        for batch in self.queue.take_due(now):
            self._accept_batch(batch, now)
        for run in list(self._folders.values()):
            if run.next_rescan <= now and run.available and not self.jobs.busy(run.folder.key):
                self._rescan(run, now)
        if self.schedule.backing_off(now) or not self.guard.check():
            return  # Plane trouble, or another process holds the recreated state directory
        for key in self.rechecks.due(now, self._recheck_intervals()):
            log.debug("sync.recheck", target=key)
            self.schedule.mark(key, now, listing=True)
        for key in self.schedule.due(now):
            if self._stop.is_set() or self._reload.is_set():
                return
            target = self._target(key)
            listing = self.schedule.take(key)
            owner = self._folders.get(target.folder.key) if target is not None else None
            if target is None or owner is None or not owner.available \
                    or self.jobs.busy(target.folder.key):
                continue  # a folder away or held by a hung share comes back with a rescan
            if self.pauses.is_paused(target.folder.path):
                log.debug("sync.pass_skipped", folder=str(target.root), reason="paused")
                continue  # resuming rescans the folder
            allowed = self.governor.next_allowed(key, now, where=str(target.root))
            if allowed > now:  # coalesced into a later pass (see service/passes.py)
                self.schedule.mark(key, allowed, listing=listing)
                continue
            if not self._pass(target, time.monotonic(), listing):
                return

    def _recheck_intervals(self) -> dict[str, float]:
        """The targets that may be re-checked (their folder there, mapped, not paused) and
        how often at most: their folder's rescan_interval; with ``direction: both`` its
        poll_interval, since what is attached in Plane makes no local event."""
        return {key: _recheck_interval(run.folder) for run in self._folders.values()
                if run.available and run.resolved and not self.pauses.is_paused(run.folder.path)
                for key in run.targets}

    def _accept_batch(self, batch: Batch, now: float) -> None:
        run = self._folders.get(batch.key)
        if run is None:
            return
        log.debug("batch.taken", folder=str(run.folder.path), reason=batch.reason,
                  paths=None if batch.paths is None else len(batch.paths))
        for key in run.targets:  # hints name files that changed; rescans do not
            self.governor.note_trigger(key, batch.reason,
                                       claims_change=batch.paths is not None)
        run.accept_batch(batch, now, self.schedule)

    def _rescan(self, run: FolderRun, now: float) -> None:
        run.plan_next_rescan(now, self.rescan_jitter)
        if self.pauses.is_paused(run.folder.path):
            log.debug("sync.pass_skipped", folder=str(run.folder.path), reason="paused")
            return
        if run.needs_mapping and not self._resolve(run):
            run.mapping_failed(now, self.schedule.backoff)
            return
        run.rescanned(now, self.schedule)
        self._verify_due.update(run.targets)  # a rescan pass also verifies (cheap form)

    def _resolve(self, run: FolderRun) -> bool:
        assert self._client is not None
        if self._resolver is None:
            self._resolver = WorkItemResolver(self._client)
        resolver = self._resolver
        try:
            targets, problems = self.jobs.run(
                run.folder.key, self.io.get(run.folder.key),
                lambda: resolve_targets((run.folder,), resolver))
        except FolderNotResponding:
            return False
        except AuthError as exc:
            self.troubles.fatal(exc)
            return False
        except Interrupted:
            return False
        except PlaneError as exc:
            self.troubles.plane(exc)
            return False
        run.targets = {t.key: t for t in targets}
        run.problems = problems
        run.resolved = True
        say_problems(self.conditions, run.folder.key, problems)
        return True

    def _target(self, key: str) -> Target | None:
        for run in self._folders.values():
            if key in run.targets:
                return run.targets[key]
        return None

    def _engine_for(self) -> Engine:
        if self._engine is None:
            assert self._client is not None and self._state is not None
            touch = self.heartbeat.touch
            progress = Progress(on_file_done=lambda n: touch(), on_bytes=lambda n: touch())
            self._engine = Engine(self._client, self._state,
                                  size_limit=size_limit_source(self.config, self._client),
                                  external_source=self.config.plane.external_source,
                                  progress=self.live.progress(progress), stop=self.gate,
                                  raise_server_errors=True, transfers=self.uploads.transfers)
        return self._engine

    def _pass(self, target: Target, now: float, listing: bool = False) -> bool:
        """One pass over ``target`` (``listing``: list its work item even if the folder did
        not change); False when Plane trouble says: stop for now."""
        self.activity.set(f"syncing {target.label} ({target.root})")
        self.gate.folder = target.folder.path
        self._publish()
        self.live.pass_started(target)
        run = self._folders[target.folder.key]
        # The watcher may have chosen another mode since (a share mounted over the folder).
        run.settler.trust_ctime = self.watcher.mode_of(target.folder.key) == "inotify"
        mark = run.settler.begin(target.key)
        engine = self._engine_for()
        settled = run.settler.scan_check(target.key, target.root, touch=self.heartbeat.touch)
        verify = target.key in self._verify_due

        def one_pass() -> PassReport:
            cpu = time.thread_time()
            done = engine.sync_target(target, settled=settled, verify=verify,
                                      listing=listing)
            done.cpu_seconds = time.thread_time() - cpu
            return done

        try:
            report = self.jobs.run(target.folder.key, self.io.get(target.folder.key), one_pass)
        except FolderNotResponding:
            log.warning("sync.abandoned", folder=str(target.root), work_item=target.label,
                        note="its filesystem does not answer; the pass runs again once it "
                             "does")
            return True
        except AuthError as exc:
            self.troubles.fatal(exc)
            return False
        except Interrupted:
            log.info("sync.interrupted", folder=str(target.root), work_item=target.label,
                     note="stopping; the journal lets the next start finish this pass")
            return False
        except (PlaneError, UploadError, StateError) as exc:
            # UploadError only when the storage host failed (Engine.raise_server_errors).
            self.troubles.plane(exc)
            self.schedule.mark(target.key, time.monotonic(), listing=listing)
            return False
        except OSError as exc:
            self.troubles.folder(target, exc)
            return True
        self.troubles.pass_through(target)
        assert self._state is not None
        self.outcome.record(target, run, report, self._state, started=now, settle_mark=mark)
        return True

    def _sleep_time(self, now: float) -> float:
        others = [run.next_rescan for run in self._folders.values() if run.available]
        others += [due for due in (self.queue.next_due(),
                                   self.rechecks.next_at(now, self._recheck_intervals()))
                   if due is not None]
        return self.schedule.sleep_time(now, others, self.notifier.watchdog_interval())

    def _sleep_unless_stopping(self, seconds: float) -> None:
        """Every wait of the Plane client (rate limit, backoff): a stop request ends it, so
        SIGTERM is not held up by a minute-long Retry-After."""
        if self._stop.wait(seconds):
            raise Interrupted("the daemon is stopping")


def _recheck_interval(folder: FolderConfig) -> float:
    if folder.direction == "both":
        return min(folder.poll_interval, folder.rescan_interval)
    return folder.rescan_interval


def run_daemon(config: Config) -> int:
    daemon = Daemon(config)
    daemon.install_signal_handlers()
    return daemon.run()
