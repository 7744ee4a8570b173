"""Process locks and write errors, the two pieces runs are held and stopped with."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swint_cli.files import LockOwner, ProcessLock, WriteError, lock_owner, write_atomic, writing

HOLDER = """
import sys, time
from pathlib import Path
from swint_cli.files import ProcessLock
lock = ProcessLock.take(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""


def start_holder(path: Path) -> subprocess.Popen:
    """Another process holding ``path``; returns once it says it holds it."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_held_lock_names_its_holder_and_turns_a_second_taker_away(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = start_holder(path)
    try:
        owner = lock_owner(path)
        assert isinstance(owner, LockOwner)
        assert (owner.pid, owner.host) == (holder.pid, socket.gethostname())
        assert str(owner).startswith(f"pid {holder.pid} on {socket.gethostname()} since 20")
        taken = ProcessLock.take(path, patience=0.1)
        assert taken == owner
        assert json.loads(path.read_text())["pid"] == holder.pid  # the refusal wrote nothing
    finally:
        holder.kill()
        holder.wait()


def test_the_kernel_frees_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = start_holder(path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_owner(path) is None
    with ProcessLock.take(path) as lock:
        assert isinstance(lock, ProcessLock)
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_a_probe_does_not_turn_the_holder_away_and_a_free_lock_has_no_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lock"
    assert lock_owner(path) is None  # no file yet
    lock = ProcessLock.take(path)
    assert isinstance(lock, ProcessLock)
    assert lock_owner(path) == LockOwner(**json.loads(path.read_text()))  # another descriptor
    lock.release()
    assert lock_owner(path) is None
    again = ProcessLock.take(path)
    assert isinstance(again, ProcessLock)
    again.release()


def test_a_forked_child_does_not_keep_the_lock_after_its_parent_lets_go(tmp_path: Path) -> None:
    """A data loader's workers are forked from the trainer: they must not hold its run."""
    path = tmp_path / "lock"
    lock = ProcessLock.take(path)
    assert isinstance(lock, ProcessLock)
    ready, tell = os.pipe()
    child = os.fork()
    if child == 0:  # the child lives on past the parent's release
        os.write(tell, b"x")  # runs after the fork's hooks
        time.sleep(3)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"x"
        lock.release()
        assert lock_owner(path) is None
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready)
        os.close(tell)


def test_without_announce_the_lock_file_keeps_its_content(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text('{"pid": 1, "host": "before", "since": "then"}\n')
    lock = ProcessLock.take(path, announce=False)
    assert isinstance(lock, ProcessLock)
    assert lock_owner(path) == LockOwner(1, "before", "then")
    lock.announce()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


@pytest.mark.parametrize(
    ("code", "reason", "remedy"),
    [
        (errno.ENOSPC, "no space left on device", "there is space"),
        (errno.EROFS, "read-only file system", "the file system is writable"),
        (errno.EACCES, "permission denied", "you may write there"),
    ],
)
def test_an_os_error_becomes_one_line_naming_the_file_meant(
    tmp_path: Path, code: int, reason: str, remedy: str
) -> None:
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(WriteError) as raised, writing(target), writing(tmp_path / "tmp.part"):
        raise OSError(code, os.strerror(code))
    assert str(raised.value) == f"{reason} writing {target}"
    assert (raised.value.errno, raised.value.remedy) == (code, remedy)


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.json"
    path.write_text("old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=f"^no space left on device writing {path}$"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_releasing_twice_leaves_a_later_lock_alone(tmp_path: Path) -> None:
    first = ProcessLock.take(tmp_path / "a")
    assert isinstance(first, ProcessLock)
    first.release()
    second = ProcessLock.take(tmp_path / "b")  # may reuse the first's descriptor number
    assert isinstance(second, ProcessLock)
    first.release()
    assert lock_owner(tmp_path / "b") is not None  # still held
    second.release()


def test_an_owner_line_missing_fields_reads_as_unknown(tmp_path: Path) -> None:
    holder = start_holder(tmp_path / "lock")
    try:
        (tmp_path / "lock").write_text('{"pid": 7}\n')
        assert str(lock_owner(tmp_path / "lock")) == "pid 7 on an unknown host since ?"
    finally:
        holder.kill()
        holder.wait()
