from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plane_sync.errors import LocalFileError
from plane_sync.local import scan
from plane_sync.local.hashing import hash_file, hash_file_identified
from plane_sync.local.ignore import IgnoreRules
from plane_sync.local.scan import FileKey, MemoryHashCache, ScanResult, scan_folder

NO_RULES = IgnoreRules()


class CountingCache:
    """A real cache with counters: every put is one hash that had to be computed."""

    def __init__(self) -> None:
        self.inner = MemoryHashCache()
        self.hits = 0
        self.puts: list[FileKey] = []

    def get(self, key: FileKey) -> tuple[str, str] | None:
        found = self.inner.get(key)
        self.hits += found is not None
        return found

    def put(self, key: FileKey, sha256: str, md5: str) -> None:
        self.puts.append(key)
        self.inner.put(key, sha256, md5)

    def flush(self) -> None:
        self.inner.flush()


def write(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def rel_paths(result: ScanResult) -> list[str]:
    return [f.rel_path for f in result.files]


def problems(result: ScanResult) -> dict[str, str]:
    return {p.rel_path: p.kind for p in result.problems}


def test_files_are_hashed_with_posix_relative_paths(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", b"hello")
    write(tmp_path / "a" / "c" / "d.pdf", b"pdf bytes")
    result = scan_folder(tmp_path, NO_RULES)
    assert result.available and result.reason is None and result.complete
    assert rel_paths(result) == ["a/c/d.pdf", "b.txt"]
    b = result.files[1]
    assert b.size == 5
    assert b.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert b.md5 == hashlib.md5(b"hello", usedforsecurity=False).hexdigest()
    assert b.mtime_ns == (tmp_path / "b.txt").stat().st_mtime_ns
    assert result.dirs == 3
    assert result.problems == ()


def test_ignore_rules_and_hidden_directories(tmp_path: Path) -> None:
    write(tmp_path / "keep.docx")
    write(tmp_path / "~$keep.docx")
    write(tmp_path / "sub" / "draft.tmp")
    write(tmp_path / "sub" / ".~lock.keep.odt#")
    write(tmp_path / ".git" / "config")
    write(tmp_path / "sub" / ".cache" / "deep" / "visible-name.txt")
    write(tmp_path / "build" / "out.bin")
    write(tmp_path / "sub" / "build" / "kept.bin")
    rules = IgnoreRules(include=[], exclude=["*.tmp", "~$*", ".~lock.*#", ".*", "build/**"])
    result = scan_folder(tmp_path, rules)
    assert rel_paths(result) == ["keep.docx", "sub/build/kept.bin"]
    assert result.problems == ()


def test_recurse_false_takes_top_level_files_only(tmp_path: Path) -> None:
    write(tmp_path / "top.txt")
    write(tmp_path / "sub" / "below.txt")
    result = scan_folder(tmp_path, NO_RULES, recurse=False)
    assert rel_paths(result) == ["top.txt"]


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = write(outside / "secret.txt", b"secret")
    write(outside / "dir" / "also-secret.txt")
    folder = tmp_path / "folder"
    write(folder / "real.txt")
    (folder / "link-to-file").symlink_to(secret)
    (folder / "link-to-dir").symlink_to(outside / "dir", target_is_directory=True)
    (folder / "link-inside").symlink_to(folder / "real.txt")
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    result = scan_folder(folder, NO_RULES)
    assert rel_paths(result) == ["real.txt"]
    assert problems(result) == {
        "dangling": "symlink", "link-inside": "symlink",
        "link-to-dir": "symlink", "link-to-file": "symlink",
    }
    assert all(p.reason == "symbolic link: not followed" for p in result.problems)
    secret_hash = hashlib.sha256(b"secret").hexdigest()
    assert all(f.sha256 != secret_hash for f in result.files)


def test_hash_file_refuses_a_symlink(tmp_path: Path) -> None:
    target = write(tmp_path / "t.txt")
    (tmp_path / "l").symlink_to(target)
    with pytest.raises(LocalFileError) as caught:
        hash_file(tmp_path / "l")
    assert caught.value.reason == "symlink"


def test_fifo_and_socket_are_skipped_without_blocking(tmp_path: Path) -> None:
    write(tmp_path / "ok.txt")
    os.mkfifo(tmp_path / "pipe")
    # AF_UNIX paths are limited to ~108 bytes: bind from inside the folder.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("sock")
    finally:
        os.chdir(cwd)
    try:
        result = scan_folder(tmp_path, NO_RULES)
    finally:
        sock.close()
    assert rel_paths(result) == ["ok.txt"]
    assert problems(result) == {"pipe": "special", "sock": "special"}


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    result = scan_folder(tmp_path / "not-mounted", NO_RULES)
    assert not result.available
    assert result.files == ()
    assert result.reason is not None and "does not exist" in result.reason
    assert not result.complete


def test_root_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    result = scan_folder(write(tmp_path / "f"), NO_RULES)
    assert not result.available
    assert result.reason is not None and "not a directory" in result.reason


def test_cache_hit_avoids_rehashing_and_any_change_misses(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path / f"f{i}.txt", f"content {i}".encode())
    cache = CountingCache()
    first = scan_folder(tmp_path, NO_RULES, cache=cache)
    assert len(cache.puts) == 5 and cache.hits == 0

    cache.puts.clear()
    second = scan_folder(tmp_path, NO_RULES, cache=cache)
    assert cache.puts == [] and cache.hits == 5
    assert second.files == first.files

    # size changes
    write(tmp_path / "f0.txt", b"longer content 0")
    # mtime changes (same size, same inode)
    st = (tmp_path / "f1.txt").stat()
    os.utime(tmp_path / "f1.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    # inode changes (same size and mtime): replaced by another file
    replacement = write(tmp_path / "new", b"content X")
    old = (tmp_path / "f2.txt").stat()
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, tmp_path / "f2.txt")
    cache.puts.clear()
    third = scan_folder(tmp_path, NO_RULES, cache=cache)
    assert sorted(k.rel_path for k in cache.puts) == ["f0.txt", "f1.txt", "f2.txt"]
    by_path = {f.rel_path: f for f in third.files}
    assert by_path["f2.txt"].sha256 == hashlib.sha256(b"content X").hexdigest()
    assert by_path["f0.txt"].sha256 == hashlib.sha256(b"longer content 0").hexdigest()


def test_settle_window_reports_fresh_files_as_changing(tmp_path: Path) -> None:
    fresh = write(tmp_path / "fresh.txt")
    old = write(tmp_path / "old.txt")
    mtime = fresh.stat().st_mtime_ns
    os.utime(old, ns=(mtime - 10_000_000_000, mtime - 10_000_000_000))
    settle = 2_000_000_000
    result = scan_folder(tmp_path, NO_RULES, settle_ns=settle, now_ns=mtime + 500_000_000)
    assert rel_paths(result) == ["old.txt"]
    assert problems(result) == {"fresh.txt": "changing"}
    later = scan_folder(tmp_path, NO_RULES, settle_ns=settle, now_ns=mtime + settle)
    assert rel_paths(later) == ["fresh.txt", "old.txt"]
    one_shot = scan_folder(tmp_path, NO_RULES, settle_ns=0, now_ns=mtime)
    assert rel_paths(one_shot) == ["fresh.txt", "old.txt"]


def test_settled_predicate_decides_instead_of_the_clock(tmp_path: Path) -> None:
    # The daemon's Settler: a predicate over (rel_path, stat), independent of mtime vs now.
    write(tmp_path / "a.txt")
    write(tmp_path / "b.txt")
    seen: list[tuple[str, int]] = []

    def settled(rel: str, st: os.stat_result) -> bool:
        seen.append((rel, st.st_size))
        return rel != "b.txt"

    cache = MemoryHashCache()
    result = scan_folder(tmp_path, NO_RULES, settle_ns=10**18, settled=settled, cache=cache)
    assert rel_paths(result) == ["a.txt"]
    assert problems(result) == {"b.txt": "changing"}
    assert sorted(r for r, _ in seen) == ["a.txt", "b.txt"]
    assert len(cache) == 1  # the unsettled file was not even hashed


def test_name_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path / "fine.txt")
    with open(os.path.join(os.fsencode(tmp_path), b"bad-\xff.txt"), "wb") as handle:
        handle.write(b"x")
    result = scan_folder(tmp_path, NO_RULES)
    assert rel_paths(result) == ["fine.txt"]
    assert [p.kind for p in result.problems] == ["bad_name"]
    json.dumps(result.problems[0].rel_path)  # printable: safe to log


def test_too_deep_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "MAX_DEPTH", 2)
    write(tmp_path / "a" / "b" / "ok.txt")
    write(tmp_path / "a" / "b" / "c" / "too-deep.txt")
    result = scan_folder(tmp_path, NO_RULES)
    assert rel_paths(result) == ["a/b/ok.txt"]
    assert problems(result) == {"a/b/c": "too_deep"}


def test_hash_detects_a_file_whose_bytes_do_not_match_its_size() -> None:
    # /proc files report size 0 but yield bytes: the same signal as a file that
    # grew under a filesystem with coarse mtimes.
    with pytest.raises(LocalFileError) as caught:
        hash_file_identified("/proc/self/status")
    assert caught.value.reason == "changing"


def test_hash_file_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 123)
    path = write(tmp_path / "big.bin", data)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert hash_file(path) == (hashlib.sha256(data).hexdigest(), md5)


# --- unreadable files and directories -------------------------------------------------

@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir an unprivileged user can enter (pytest's tmp_path is 0700 for root)."""
    path = Path(tempfile.mkdtemp(prefix="plane-sync-scan-"))
    path.chmod(0o755)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o700)
    shutil.rmtree(path)


def scan_unprivileged(root: Path) -> dict[str, object]:
    """Scan as the current user, or (when root, who can read anything) in a forked
    child that dropped to "nobody" first; returns files and problems as plain data."""

    def run() -> dict[str, object]:
        result = scan_folder(root, NO_RULES)
        return {"files": rel_paths(result), "problems": problems(result),
                "complete": result.complete, "available": result.available}

    if os.geteuid() != 0:
        return run()
    return _in_child_as_nobody(run)


def _in_child_as_nobody(run: Callable[[], dict[str, object]]) -> dict[str, object]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = json.dumps(run()).encode()
            status = 0
        except BaseException as exc:
            payload = json.dumps({"error": repr(exc)}).encode()
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as inp:
        data = json.loads(inp.read())
    _, status = os.waitpid(pid, 0)
    if "error" in data and "PermissionError" in data["error"]:
        pytest.skip(f"cannot drop privileges here: {data['error']}")
    assert os.waitstatus_to_exitcode(status) == 0, data
    return dict(data)


def test_unreadable_file_is_a_problem_and_the_scan_goes_on(shared_tmp: Path) -> None:
    write(shared_tmp / "readable.txt").chmod(0o644)
    write(shared_tmp / "locked.txt").chmod(0o000)
    outcome = scan_unprivileged(shared_tmp)
    assert outcome["files"] == ["readable.txt"]
    assert outcome["problems"] == {"locked.txt": "unreadable"}
    assert outcome["complete"] is True  # every directory was listed


def test_unreadable_directory_is_a_problem_and_marks_the_scan_incomplete(
        shared_tmp: Path) -> None:
    write(shared_tmp / "readable.txt").chmod(0o644)
    write(shared_tmp / "closed" / "inside.txt").chmod(0o644)
    (shared_tmp / "closed").chmod(0o000)
    outcome = scan_unprivileged(shared_tmp)
    assert outcome["available"] is True
    assert outcome["files"] == ["readable.txt"]
    assert outcome["problems"] == {"closed": "unreadable"}
    assert outcome["complete"] is False


def test_unreadable_root_is_unavailable(shared_tmp: Path) -> None:
    root = shared_tmp / "share"
    write(root / "f.txt")
    root.chmod(0o000)
    outcome = scan_unprivileged(root)
    assert outcome["available"] is False
    assert outcome["files"] == []


# --- mounts inside the folder ---------------------------------------------------------

@pytest.fixture
def bind_mount() -> Iterator[Callable[[Path, Path], None]]:
    """Bind-mount source on target (root only; skipped where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(source: Path, target: Path) -> None:
        done = subprocess.run(["mount", "--bind", str(source), str(target)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"bind mounts not allowed here: {done.stderr.strip()}")
        mounted.append(target)

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


def test_bind_mounts_inside_the_folder_are_not_entered(
        tmp_path: Path, bind_mount: Callable[[Path, Path], None]) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret.txt", b"secret")
    secret_file = write(tmp_path / "secret-file.txt", b"secret file")
    folder = tmp_path / "folder"
    write(folder / "real.txt")
    (folder / "mnt").mkdir()
    write(folder / "file-mnt.txt", b"placeholder")
    bind_mount(outside, folder / "mnt")  # same filesystem: same st_dev
    bind_mount(secret_file, folder / "file-mnt.txt")
    result = scan_folder(folder, NO_RULES)
    assert rel_paths(result) == ["real.txt"]
    assert problems(result) == {"mnt": "mount", "file-mnt.txt": "mount"}
    assert result.complete
    crossing = scan_folder(folder, NO_RULES, cross_mounts=True)
    assert rel_paths(crossing) == ["file-mnt.txt", "mnt/secret.txt", "real.txt"]


def test_files_over_the_hash_limit_are_listed_but_never_read(tmp_path: Path) -> None:
    # They are over Plane's size limit: the planner only skips them, so hashing gigabytes
    # of video on a share would be wasted.
    write(tmp_path / "small.txt", b"x" * 10)
    write(tmp_path / "big.bin", b"y" * 11)
    cache = MemoryHashCache()
    result = scan_folder(tmp_path, NO_RULES, cache=cache, hash_limit=10)
    by_path = {f.rel_path: f for f in result.files}
    assert by_path["big.bin"].size == 11 and by_path["big.bin"].sha256 == ""
    assert by_path["small.txt"].sha256 == hashlib.sha256(b"x" * 10).hexdigest()
    assert len(cache) == 1


def test_a_root_that_fails_after_it_opened_is_unavailable_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An sshfs share whose server stops answers EIO to calls on an open directory; the
    # daemon died of it. fstat on our own directory cannot be made to fail on local disk.
    (tmp_path / "a.txt").write_text("a")

    real_open, real_fstat = os.open, os.fstat
    root_fds: list[int] = []

    def open_(path: object, flags: int, *args: object, **kwargs: object) -> int:
        fd = real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(path) == os.fspath(tmp_path):  # type: ignore[call-overload]
            root_fds.append(fd)
        return fd

    def fstat(fd: int) -> os.stat_result:
        if fd in root_fds:
            raise OSError(5, "Input/output error")
        return real_fstat(fd)

    monkeypatch.setattr(scan.os, "open", open_)
    monkeypatch.setattr(scan.os, "fstat", fstat)
    result = scan_folder(tmp_path, NO_RULES)
    assert not result.available and result.files == ()
    assert result.reason == f"folder {tmp_path} cannot be read: Input/output error"
