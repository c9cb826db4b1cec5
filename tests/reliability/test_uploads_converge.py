"""Cases 1, 7, 8 and 9: every file converges, and what waits says so, with its next try."""

from __future__ import annotations

import json
import os
from pathlib import Path

from plane_sync.core.identity import attachment_name_for, external_id_for
from plane_sync.local.hashing import hash_file
from plane_sync.remote.upload import upload_file
from tests.e2e_daemon.conftest import wait_until
from tests.e2e_sync.conftest import World, kill, make_files, writes
from tests.reliability.conftest import Local


def creates(world: World) -> list[object]:
    return [r for r in world.emu.requests()
            if r.server == "api" and r.method == "POST" and r.path.endswith("attachments/")]


# -- case 1: a lost create answer ------------------------------------------------------------

def test_case1_a_create_whose_answer_was_lost_is_ours_and_redone_at_once(world: World) -> None:
    (world.folder / "a.txt").write_text("hello")
    world.write_config()
    # Plane makes the attachment, then the connection drops before the answer arrives; the
    # client sends the create again and gets 409 for its own first try.
    world.emu.faults.set(lose_answers=1, only=["POST"])
    run = world.sync()  # exit 0 only because the file is really attached
    assert run.json["folders"][0]["waiting"] == []
    assert world.names() == ["a.txt"]
    assert len(world.uploaded(include_pending=True)) == 1  # the orphan is gone
    again = world.sync().json["folders"][0]
    assert again["in_sync"] == 1 and again["uploaded"] == []


def _pending_of_someone_else(local: Local, rel_path: str, body: bytes) -> str:
    """Another machine's create of this very version, whose upload never completes."""
    sha = __import__("hashlib").sha256(body).hexdigest()
    ticket = local.client.create_attachment(
        local.target.work_item, name=attachment_name_for(rel_path), mime_type="text/plain",
        size=len(body), external_id=external_id_for(rel_path, sha),
        external_source="plane-sync")
    return str(ticket.attachment_id)


def test_case1_someone_elses_pending_upload_is_checked_on_a_backoff_then_taken_over(
        local: Local) -> None:
    world = local.world
    (world.folder / "a.txt").write_bytes(b"shared bytes")
    pending_id = _pending_of_someone_else(local, "a.txt", b"shared bytes")
    engine = local.engine()
    world.emu.clear_requests()

    first = engine.sync_target(local.target)
    assert [p for p, _ in first.waiting] == ["a.txt"]
    assert len(creates(world)) == 1

    # Passes before the next check send no create at all (the 88 s / 43 creates of before).
    for _ in range(10):
        local.clock.advance(0.4)
        again = engine.sync_target(local.target)
        assert [p for p, _ in again.waiting] == ["a.txt"]
    assert len(creates(world)) == 1
    assert not first.in_sync_now and first.next_check["a.txt"] > local.clock.now - 4
    assert "next check" in first.waiting[0][1] and "taken over at" in first.waiting[0][1]

    # Looks again on a backoff: a handful of requests until the takeover, not one a pass.
    from plane_sync.sync.pending import TAKEOVER_BASE

    while local.clock.now < 1_800_000_000.0 + TAKEOVER_BASE - 1:
        local.clock.advance(1.0)
        engine.sync_target(local.target)
    assert 2 <= len(creates(world)) <= 6

    # Nothing completed it: it is taken over well within the hour.
    local.clock.advance(60)
    done = engine.sync_target(local.target)
    assert [p for p, _ in done.uploaded] == ["a.txt"] and done.in_sync_now
    assert [a["id"] for a in world.uploaded()] != [pending_id]
    assert len(world.uploaded(include_pending=True)) == 1


def test_case1_a_pending_wait_makes_sync_exit_1_and_status_shows_the_next_check(
        local: Local) -> None:
    world = local.world
    (world.folder / "a.txt").write_bytes(b"shared bytes")
    _pending_of_someone_else(local, "a.txt", b"shared bytes")
    world.write_config()
    run = world.sync(expect=1)
    (waiting,) = run.json["folders"][0]["waiting"]
    assert waiting["path"] == "a.txt" and "next check" in waiting["reason"]
    status = world.cli("status", "--json").json["folders"][0]
    assert status["state"] == "waiting"
    assert status["waiting"][0]["path"] == "a.txt" and status["waiting"][0]["next_check"]
    assert "waiting  a.txt" in world.cli("status").stdout


# -- case 7: the size limit could not be read --------------------------------------------------

def test_case7_sync_with_the_size_limit_unknown_exits_1_naming_the_guess(
        world_factory: object) -> None:
    world = world_factory(file_size_limit=8 * 1024 * 1024)  # type: ignore[operator]
    (world.folder / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    world.write_config()
    world.emu.faults.set(instance_down=True)  # GET /api/instances/ fails: 5 MiB assumed
    run = world.sync(expect=1)
    folder = run.json["folders"][0]
    assert folder["skipped"] == [] and [w["path"] for w in folder["waiting"]] == ["big.bin"]
    assert "assumed" in folder["waiting"][0]["reason"]
    world.emu.faults.clear()
    assert [u["path"] for u in world.sync().json["folders"][0]["uploaded"]] == ["big.bin"]


def test_case7_an_unknown_size_limit_is_asked_again_and_its_skips_are_not_settled(
        world_factory: object, tmp_path: Path) -> None:
    from plane_sync.sync.size_limit import SizeLimit
    from tests.reliability.conftest import open_local

    world = world_factory(file_size_limit=8 * 1024 * 1024)  # type: ignore[operator]
    local = open_local(world, tmp_path)
    big = world.folder / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    answers = iter([None])  # the first GET /api/instances/ fails, later ones answer

    def fetch() -> int | None:
        return next(answers, local.client.read_file_size_limit())

    limits = SizeLimit(fetch, clock=local.clock)
    engine = local.engine(limits)
    first = engine.sync_target(local.target)
    assert first.skipped == [] and [p for p, _ in first.waiting] == ["big.bin"]
    assert "assumed" in first.waiting[0][1] and not first.in_sync_now
    assert first.next_check["big.bin"] <= local.clock.now + 61
    local.clock.advance(61)
    second = engine.sync_target(local.target)
    assert [p for p, _ in second.uploaded] == ["big.bin"] and second.in_sync_now
    local.state.close()
    local.client.close()


# -- case 8: a hand upload whose checksum is not filled in yet --------------------------------

def test_case8_a_hand_upload_without_its_checksum_yet_is_waited_for_not_duplicated(
        world_factory: object, tmp_path: Path) -> None:
    from tests.reliability.conftest import open_local

    world = world_factory(metadata_delay=3.0)  # type: ignore[operator]
    local = open_local(world, tmp_path)
    contract = world.folder / "contract.txt"
    contract.write_text("the signed contract\n")
    sha, _md5 = hash_file(contract)
    # A person drags the file into Plane; Plane fills in its ETag a few seconds later.
    upload_file(local.client, local.target.work_item, contract, name="contract.txt",
                mime_type="text/plain", size=contract.stat().st_size, sha256=sha,
                size_limit=10_000_000)
    assert world.uploaded()[0]["storage_metadata"] == {}
    world.write_config()
    run = world.sync()
    assert run.json["folders"][0]["uploaded"] == []
    assert world.names() == ["contract.txt"]  # one, the person's
    assert world.cli("verify").code == 0
    local.state.close()
    local.client.close()


# -- case 9: expired policies -----------------------------------------------------------------

def test_case9_clock_skew_is_named_once_with_the_next_try_and_costs_one_file(
        world: World) -> None:
    for i in range(5):
        (world.folder / f"f{i}.txt").write_text(f"file {i}")
    world.write_config()
    world.emu.faults.set(plane_clock_behind=2 * 3600)  # Plane's clock 2 h behind storage's
    run = world.sync(expect=1)
    api_writes = [r for r in writes(world.emu.requests()) if r.server == "api"]
    assert len(api_writes) == 2  # one create and its delete, not three requests per file
    folder = run.json["folders"][0]
    assert "Clock skew" in folder["paused"] and "2.0 hours ahead" in folder["paused"]
    assert len(folder["waiting"]) == 5 and folder["failed"] == []
    human = world.cli("sync")
    assert human.stdout.count("Clock skew") == 1 and "until" in human.stdout
    world.emu.clear_requests()
    assert world.sync(expect=1).json["folders"][0]["paused"]
    # A rerun before the next try costs one file's probe (create + delete), not five.
    assert len([r for r in writes(world.emu.requests()) if r.server == "api"]) == 2


def test_case9_the_daemon_pauses_uploads_then_resumes_within_seconds_of_the_trouble_ending(
        world: World) -> None:
    make_files(world.folder, 3)
    world.write_config()
    world.emu.faults.set(expire_policies=True)
    daemon = world.start("run", "--log-format", "json")
    try:
        def paused() -> bool:
            folders = world.cli("status", "--json").json["folders"]
            return bool(folders and folders[0]["state"] == "waiting"
                        and "SIGNED_URL_EXPIRATION" in folders[0]["reason"]
                        and len(folders[0]["waiting"]) == 3)

        wait_until(paused, 60, "status: uploads paused, the cause named, 3 files waiting")
        world.emu.faults.clear()
        # The pause is looked at again on the daemon's backoff (5 s doubling), not a minute
        # later: generous bound, well under the minute a file's retry would take.
        wait_until(lambda: len(world.names()) == 3, 30, "uploads resumed after the trouble")
        wait_until(lambda: world.cli("status", "--json").json["folders"][0]["state"] == "ok",
                   30, "status: ok again")
        assert daemon.poll() is None
        daemon.terminate()
        _, err = daemon.communicate(timeout=60)
    finally:
        kill(daemon)
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    told = [e for e in events if e["event"] == "upload.policies_expired"]
    assert len(told) == 1 and told[0]["level"] == "warning"  # once when it starts ...
    assert [e["event"] for e in events].count("upload.policies_accepted") == 1  # ... and ends
    assert not [e for e in events if e["level"] in ("error", "critical")]
    assert len(world.uploaded(include_pending=True)) == 3  # no pending leftovers
