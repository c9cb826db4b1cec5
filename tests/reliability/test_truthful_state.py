"""Cases 2 (verify's part), 6 and 10: verify sees what the cache hides, sync looks twice,
and a state directory deleted under the daemon is noticed."""

from __future__ import annotations

import os
import shutil
import threading
import time

from tests.e2e_daemon.conftest import wait_until
from tests.e2e_sync.conftest import World, kill, make_files


def test_case2_verify_finds_a_same_size_rewrite_with_its_mtime_put_back(world: World) -> None:
    path = world.folder / "report.txt"
    path.write_text("version one")
    world.write_config()
    world.sync()
    before = path.stat()
    path.write_text("version two")  # same length, rewritten in place (same inode)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p / rsync -t do
    assert path.stat().st_size == before.st_size and path.stat().st_ino == before.st_ino
    run = world.cli("verify", "--json")
    assert run.code == 1, str(run)
    (diff,) = run.json["folders"][0]["differences"]
    assert diff == {"kind": "stale", "path": "report.txt",
                    "detail": "only other versions of this file are attached"}
    assert world.cli("verify", "--deep").code == 1


def test_verify_deep_downloads_and_compares_the_bytes(world: World) -> None:
    make_files(world.folder, 3)
    world.write_config()
    world.sync()
    run = world.cli("verify", "--deep", "--json")
    assert run.code == 0, str(run)
    downloads = [r for r in world.emu.requests() if r.server == "storage" and r.method == "GET"]
    assert len(downloads) == 3
    assert "no difference" in world.cli("verify", str(world.folder)).stdout


def test_case6_sync_waits_for_a_file_still_written_even_when_its_mtime_lies(
        world: World) -> None:
    path = world.folder / "growing.log"
    path.write_bytes(b"x" * 1000)
    stop = threading.Event()

    def writer() -> None:  # appends every 0.3 s; the file server's clock is an hour behind
        while not stop.is_set():
            with path.open("ab") as out:
                out.write(b"y" * 20_000)
            past = time.time() - 3600
            os.utime(path, (past, past))
            time.sleep(0.3)

    config = world.config()
    config["defaults"] = {"settle": 1.5}
    world.write_config(config)
    thread = threading.Thread(target=writer)
    thread.start()
    proc = world.start("sync", "--json")
    time.sleep(3.0)
    stop.set()
    thread.join()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    (attached,) = world.uploaded()
    assert attached["attributes"]["size"] == path.stat().st_size  # the whole file, not a part


def test_case10_a_state_directory_deleted_under_the_daemon_is_recreated(world: World) -> None:
    make_files(world.folder, 2)
    world.write_config()
    daemon = world.start("run", "--log-format", "json")
    try:
        def in_sync() -> bool:
            run = world.cli("status", "--json")
            assert run.stdout, f"status printed nothing: exit {run.code}, {run.stderr}"
            status = run.json
            return bool(status["daemon"]["running"] and status["folders"]
                        and status["folders"][0]["in_sync"] == 2)

        wait_until(in_sync, 60, "the daemon's first sync")
        shutil.rmtree(world.state_dir)
        wait_until(lambda: (world.state_dir / "state.db").exists()
                   and (world.state_dir / "lock").exists(), 30, "the state dir recreated")
        status = world.cli("status", "--json").json
        assert status["daemon"]["running"], status
        assert oct((world.state_dir / "state.db").stat().st_mode & 0o777) == "0o600"
        refused = world.cli("sync")
        assert refused.code == 2 and "already uses the state directory" in refused.stderr
        (world.folder / "new.txt").write_text("after the state was lost")
        wait_until(lambda: "new.txt" in world.names(), 60, "the daemon uploads a new file")
        wait_until(lambda: world.cli("status", "--json").json["folders"][0]["in_sync"] == 3,
                   60, "status shows it")
        assert daemon.poll() is None
        daemon.terminate()
        _, err = daemon.communicate(timeout=60)
    finally:
        kill(daemon)
    assert "state.recreated" in err
