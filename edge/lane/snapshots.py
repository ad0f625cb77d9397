"""Camera snapshots of each transit, kept on the lane Pi as JPEG files.

Reading a frame and encoding a JPEG costs tens of milliseconds on a Pi, more
than the whole card-to-relay budget (10 ms p99). So the lane only *names* the
snapshot while it writes the event (the name goes into the event's
``snapshot`` field), and a worker thread takes and stores the frame just
after; the barrier never waits for the camera.

A camera or folder known to be failing gives no name (``snapshot`` stays
``None``), and :attr:`Snapshots.status` says why for the health report. Only
the capture that discovers a new failure leaves a name without a file; the
log line names it. While idle the worker probes the camera and the folder,
so an unplugged camera shows in health before the next car, and a repaired
one comes back by itself. The folder is bounded: the oldest files go once
there are more than ``keep`` or they are older than ``max_age_s``.

This module never imports OpenCV: it talks to :class:`SnapshotCamera`, which
:class:`edge.hw.camera.Camera` satisfies.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from edge.errors import GatepostError

log = logging.getLogger("gatepost.lane.snapshots")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
SUFFIX = ".jpg"


class SnapshotCamera(Protocol):
    """The lane camera as the snapshot worker uses it."""

    status: str

    def snapshot(self) -> Any: ...

    def save_snapshot(self, directory: str | os.PathLike[str], ref: str) -> Path: ...


class Snapshots:
    """Names, takes, stores and prunes one lane's transit snapshots.

    :param keep: most files kept; the oldest go first.
    :param max_age_s: files older than this go too.
    :param probe_s: how often an idle worker checks the camera and the folder.
    """

    def __init__(
        self,
        camera: SnapshotCamera,
        directory: str | os.PathLike[str],
        *,
        keep: int = 5000,
        max_age_s: float = 30 * 86400,
        probe_s: float = 10.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if keep < 1 or max_age_s <= 0 or probe_s <= 0:
            raise ValueError("keep, max_age_s and probe_s must be positive")
        self.camera = camera
        self.directory = Path(directory)
        self.keep = keep
        self.max_age_s = max_age_s
        self.probe_s = probe_s
        self._wall = wall
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=256)
        self._thread: threading.Thread | None = None
        self._dir_error: str | None = None
        self._files = 0
        self._last_base = ""
        self._same_base = 0
        self._name_lock = threading.Lock()
        self.saved = 0
        self.failed = 0
        self.on_fault: Callable[[str, BaseException], None] | None = None
        """The lane's storage guard (``report``): a folder that refuses files is a storage fault."""

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> str:
        """ "ok", or "error: why" (folder first, then camera) for the health report."""
        if self._dir_error is not None:
            return f"error: snapshot folder {self.directory}: {self._dir_error}"
        camera = str(getattr(self.camera, "status", "ok"))
        return camera if camera.startswith("error") else "ok"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    # ------------------------------------------------------------------ the lane's side (fast)

    def reference(self, event_type: str, hint: str | None, now: datetime) -> str | None:
        """A fresh file name for this event's snapshot, or ``None`` while the camera or folder fails.

        Microseconds: no I/O. The caller stores the event, then calls :meth:`capture`.
        """
        if not self.available:
            return None
        moment = now.astimezone(UTC)
        base = f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z-{event_type}"
        if hint:
            base += "-" + _UNSAFE.sub("_", hint)[:32]
        with self._name_lock:
            if base == self._last_base:
                self._same_base += 1
                base = f"{base}-{self._same_base}"
            else:
                self._last_base = base
                self._same_base = 0
        return base[:76] + SUFFIX

    def capture(self, ref: str) -> None:
        """Queue the capture of ``ref``; never blocks (a full queue drops the capture, logged)."""
        try:
            self._queue.put_nowait(ref)
        except queue.Full:
            self.failed += 1
            log.error("snapshot %s not taken: capture queue full", ref)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lane-snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("snapshot worker busy at stop")
        self._thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once every queued capture is done (for tests and an orderly stop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------------ the worker's side (slow)

    def _run(self) -> None:
        self._check_folder()
        self._prune()
        self._probe_camera()
        while True:
            try:
                ref = self._queue.get(timeout=self.probe_s)
            except queue.Empty:
                self._check_folder()
                self._probe_camera()
                self._prune()
                continue
            try:
                if ref is None:
                    return
                self._save(ref)
            except Exception:  # a camera driver bug must not end the worker
                log.exception("snapshot %s crashed", ref)
            finally:
                self._queue.task_done()

    def _save(self, ref: str) -> None:
        name = ref.removesuffix(SUFFIX)
        try:
            self.camera.save_snapshot(self.directory, name)
        except OSError as exc:
            self.failed += 1
            self._dir_error = exc.strerror or str(exc)
            log.error("snapshot %s not stored: %s", ref, exc)
            if self.on_fault is not None:
                self.on_fault("snapshots", exc)
            return
        except GatepostError as exc:
            self.failed += 1
            log.error("snapshot %s not taken: %s", ref, exc)
            return
        self.saved += 1
        self._files += 1
        if self._files > self.keep:
            self._prune()

    def probe_folder(self) -> None:
        """Raise OSError unless the folder takes a file now (the storage guard's recovery probe)."""
        self._check_folder()
        if self._dir_error is not None:
            raise OSError(f"snapshot folder {self.directory}: {self._dir_error}")

    def _check_folder(self) -> None:
        """Make sure the folder exists and takes a file; remembers why not."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.directory, suffix=".part")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if self._dir_error != why:
                log.error(
                    "snapshot folder %s unusable: %s; transits get no snapshot", self.directory, why
                )
            self._dir_error = why
            return
        if self._dir_error is not None:
            log.info("snapshot folder %s usable again", self.directory)
        self._dir_error = None

    def _probe_camera(self) -> None:
        """One frame, so a camera that failed (or came back) shows in health without waiting for a car."""
        if getattr(self.camera, "loaded", True) is False:
            return  # a lazily opened camera is not loaded for a probe (edge.lane.assemble.LazyCamera)
        try:
            self.camera.snapshot()
        except GatepostError:
            pass  # the camera logged it and set its status
        except Exception:
            log.exception("camera probe crashed")

    def _prune(self) -> None:
        """Delete the oldest files beyond ``keep`` and any older than ``max_age_s``."""
        if self._dir_error is not None:
            return
        cutoff = self._wall() - self.max_age_s
        found: list[tuple[float, str]] = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.is_file() and entry.name.endswith((SUFFIX, ".part")):
                        found.append((entry.stat().st_mtime, entry.name))
        except OSError as exc:
            log.error("snapshot folder %s unreadable: %s", self.directory, exc)
            return
        found.sort()
        # A ".part" is a write cut short by a power loss (the worker is the only writer).
        doomed = [name for _, name in found if name.endswith(".part")]
        jpegs = [(mtime, name) for mtime, name in found if name.endswith(SUFFIX)]
        doomed += [name for mtime, name in jpegs if mtime < cutoff]
        young = [name for mtime, name in jpegs if mtime >= cutoff]
        excess = len(young) - self.keep
        if excess > 0:
            doomed += young[:excess]
        removed = 0
        for name in doomed:
            try:
                (self.directory / name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("old snapshot %s not removed: %s", name, exc)
        self._files = len(jpegs) - sum(1 for name in doomed if name.endswith(SUFFIX))
        if removed:
            log.info(
                "pruned %d old snapshots (keep %d, max age %.0f s)",
                removed,
                self.keep,
                self.max_age_s,
            )
