"""The prediction spool: every answered prediction reaches a local file before its answer.

Rows are appended as JSON lines to numbered segment files (``segment-<n>.jsonl``) in one
``os.write`` per request, before the response is sent: a crash of the process cannot lose
them (the operating system holds the data); ``fsync=True`` also survives a power loss.
The prediction log takes rows out of the spool in the order they went in, once they are
stored (or set aside); a segment file is deleted when every row in it is out, so a crash
at any point leaves at worst rows that are stored already, which the replay skips.

On start, :meth:`Spool.open` reads the segments a previous run left: lines that cannot be
read back (a torn last line, corrupt bytes) are moved to ``rejected.jsonl`` with the
reason and counted; the rows are handed back for the log to store first. The spool holds
at most ``max_bytes``; :meth:`Spool.append` beyond it raises :class:`SpoolFullError`, and
the service answers 503 rather than give out a prediction it could not keep.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.files import private_dir

__all__ = ["REJECTED_FILE", "Spool", "SpoolFullError", "SpoolInUseError", "encode_row"]

logger = logging.getLogger(__name__)

#: Where rows that can never be stored are kept (one JSON object per line, with a reason).
REJECTED_FILE = "rejected.jsonl"
#: A segment is closed, and a new one started, once it holds this many bytes.
SEGMENT_BYTES = 4 * 1024 * 1024
#: The columns a spooled row must carry to be replayed.
_COLUMNS = frozenset({"id", "model_id", "version_id", "ts", "features", "predicted_class",
                      "scores", "top_score", "latency_ms"})

#: Called with an event (``spooled``, ``replayed``, ``rejected``) and a number of rows.
EventHook = Callable[[str, int], None]


class SpoolFullError(Exception):
    """The spool holds its maximum: the store has not taken rows for a while."""


class SpoolInUseError(RuntimeError):
    """Another process holds the spool folder (two services sharing one state folder)."""


@dataclass
class _Run:
    """Consecutive rows of one segment, in the order the log holds them."""

    segment: int
    count: int
    replayed: bool


class Spool:
    """An append-only, size-capped file of rows not yet stored.

    Args:
        folder: holds the segment files and ``rejected.jsonl`` (created owner-only).
        max_bytes: the most the segments may hold together.
        fsync: fsync each append (for power loss, not only a crash of the process).
        on_event: told of rows spooled, replayed and rejected (for the metrics).
        segment_bytes: size at which a segment is closed and a new one begun.
    """

    def __init__(self, folder: Path, *, max_bytes: int, fsync: bool = False,
                 on_event: EventHook | None = None,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = folder
        self._max_bytes = max_bytes
        self._fsync = fsync
        self._on_event = on_event or (lambda _event, _rows: None)
        self._segment_bytes = max(1, min(segment_bytes, max_bytes))
        self._lock = threading.Lock()
        self._runs: deque[_Run] = deque()
        self._outstanding: dict[int, int] = {}
        self._sizes: dict[int, int] = {}
        self._current = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.bytes = 0
        self._refused = False
        #: Rows counted since start, by event.
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0

    @property
    def full(self) -> bool:
        """Whether the spool refused rows and has not freed room since (or is at its cap)."""
        return self._refused or self.bytes >= self._max_bytes

    def open(self) -> list[dict[str, Any]]:
        """Recover what a previous run left; returns its rows, oldest first, to store.

        Raises:
            SpoolInUseError: another live process uses this folder: replaying its rows
                would store them twice and delete its files.
        """
        self.claim()
        rows: list[dict[str, Any]] = []
        with self._lock:
            for number, path in self._segments():
                good, size = self._recover(path)
                if good:
                    self._runs.append(_Run(number, len(good), replayed=True))
                    self._outstanding[number] = len(good)
                    self._sizes[number] = size
                    self.bytes += size
                    rows.extend(good)
                else:
                    path.unlink(missing_ok=True)
                self._current = number
            self._current += 1
        if rows:
            logger.warning("replaying %d predictions spooled by a previous run", len(rows))
        return rows

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write rows to the current segment, in one write call; raises when full.

        Raises:
            SpoolFullError: the rows would take the spool over ``max_bytes``.
            OSError: the file cannot be written (nothing is counted as spooled).
        """
        data = b"".join(encode_row(row) for row in rows)
        with self._lock:
            if self.bytes + len(data) > self._max_bytes:
                self._refused = True
                raise SpoolFullError(
                    f"the prediction spool is full ({self.bytes} of {self._max_bytes} bytes "
                    "waiting for the store); try again shortly")
            if self._fd is None or self._sizes[self._current] >= self._segment_bytes:
                self._start_segment()
            fd = self._fd
            assert fd is not None  # _start_segment opened it
            _write_all(fd, data)
            if self._fsync:
                os.fsync(fd)
            self._sizes[self._current] += len(data)
            self._outstanding[self._current] += len(rows)
            self.bytes += len(data)
            last = self._runs[-1] if self._runs else None
            if last is not None and last.segment == self._current and not last.replayed:
                last.count += len(rows)
            else:
                self._runs.append(_Run(self._current, len(rows), replayed=False))
            self.spooled += len(rows)
        self._on_event("spooled", len(rows))

    def release(self, count: int) -> None:
        """Take the oldest ``count`` rows out (stored or set aside); delete emptied segments."""
        replayed = 0
        with self._lock:
            while count > 0 and self._runs:
                run = self._runs[0]
                taken = min(count, run.count)
                run.count -= taken
                count -= taken
                self._outstanding[run.segment] -= taken
                replayed += taken if run.replayed else 0
                if run.count == 0:
                    self._runs.popleft()
            for number in [n for n, left in self._outstanding.items() if left == 0]:
                self._drop_segment(number)
            self.replayed += replayed
        if replayed:
            self._on_event("replayed", replayed)

    def reject(self, items: Sequence[object], *, reason: str) -> None:
        """Keep rows (or unreadable lines) the store can never take, with the reason."""
        text = "".join(json.dumps({"reason": reason, "row": item}, default=_json_default) + "\n"
                       for item in items)
        try:
            private_dir(self.folder)
            with (self.folder / REJECTED_FILE).open("a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                if self._fsync:
                    os.fsync(fh.fileno())
        except OSError as exc:
            logger.error("could not set aside %d predictions (%s): %s", len(items), reason, exc)
        else:
            logger.error("%d predictions set aside in %s: %s",
                         len(items), self.folder / REJECTED_FILE, reason)
        self.rejected += len(items)
        self._on_event("rejected", len(items))

    def close(self) -> None:
        """Close the current segment (rows still in it stay for the next start)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._outstanding.get(self._current) == 0:
                self._drop_segment(self._current)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the lock
                self._lock_fd = None

    def claim(self) -> None:
        """Lock the folder for this process (the lock dies with it, even on ``kill -9``).

        Raises:
            SpoolInUseError: another live process holds it.
        """
        if self._lock_fd is not None:
            return
        private_dir(self.folder)
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolInUseError(
                f"another inference service uses the prediction spool in {self.folder}; "
                "give each service its own OPSDASH_VAR_DIR") from None
        self._lock_fd = fd

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("segment-*.jsonl"):
            try:
                found.append((int(path.stem.removeprefix("segment-")), path))
            except ValueError:
                continue
        return sorted(found)

    def _recover(self, path: Path) -> tuple[list[dict[str, Any]], int]:
        """The readable rows of a segment and its size; the rest set aside."""
        data = path.read_bytes()
        good: list[dict[str, Any]] = []
        bad: list[str] = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines):
            if not line:
                continue
            if number == len(lines) - 1:  # no newline after it: the write was cut short
                bad.append(line.decode("utf-8", "replace"))
                continue
            row = _decode(line)
            if row is None:
                bad.append(line.decode("utf-8", "replace"))
            else:
                good.append(row)
        if bad:
            self.reject(bad, reason=f"an unreadable line in the spool file {path.name}")
        return good, len(data)

    def _start_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._current += 1
        private_dir(self.folder)
        path = self.folder / f"segment-{self._current:012d}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sizes[self._current] = 0
        self._outstanding[self._current] = 0

    def _drop_segment(self, number: int) -> None:
        """Delete a segment whose rows are all out of the spool (lock held)."""
        if number == self._current and self._fd is not None:
            os.close(self._fd)
            self._fd = None
            # The next append starts a new file: this one is never written again.
            self._current += 1
        path = self.folder / f"segment-{number:012d}.jsonl"
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.error("could not delete the stored spool file %s: %s", path, exc)
            return
        self.bytes -= self._sizes.pop(number, 0)
        self._refused = False
        self._outstanding.pop(number, None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def encode_row(row: dict[str, Any]) -> bytes:
    """A row as the spool holds it: one JSON line (times in ISO 8601 with their offset)."""
    return (json.dumps(row, default=_json_default, separators=(",", ":")) + "\n").encode()


def _decode(line: bytes) -> dict[str, Any] | None:
    """A spooled row, or None for a line that is not one."""
    try:
        row = json.loads(line)
        if not isinstance(row, dict) or row.keys() != _COLUMNS:
            return None
        row["ts"] = datetime.fromisoformat(row["ts"])
    except (ValueError, TypeError):
        return None
    if row["ts"].utcoffset() is None:
        return None
    return row


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
