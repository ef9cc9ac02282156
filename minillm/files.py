"""Writing files so that a crash, a kill or a full disk never leaves half of one behind.

A file is first written under a temporary name of its own (unique, so two writers never share
one), flushed to the disk, and only then renamed over the real name: os.replace is atomic, so a
reader sees the old file or the new one, never a mix. If anything fails on the way, the
temporary file is removed and the old file is still there.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path


def temporary_name(path, tag=None):
    """A hidden sibling of path that no other writer uses: folder/.NAME.TAG.tmp."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag or uuid.uuid4().hex}.tmp")


def write_durably(path, data: bytes):
    """Create path (it must not exist yet) holding data, flushed to the disk before returning.
    On failure the half-written file is removed."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def atomic_write(path, data):
    """Replace path with data (bytes, or str written as UTF-8) all at once: a reader, or the
    program after a crash, finds the old content or the new one, never part of it."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = temporary_name(path)
    write_durably(tmp, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder):
    """Flush a folder's list of names to the disk, so a rename survives a power cut
    (where the system allows opening a folder; Windows does not)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
