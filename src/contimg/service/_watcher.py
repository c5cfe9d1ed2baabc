"""The incoming directory: notice files, index each once it is whole, settle groups.

Filesystem events (``watchdog``: inotify, or polling for network filesystems) only say
*look at this path*; a periodic full rescan (``ingest.rescan_interval_s``) catches whatever
an event missed. A file is indexed once it is whole: its size and mtime have not changed
for ``ingest.stable_wait_s`` (checked without sleeping, across scans; the service's loop
wakes when the first file waiting is due) and its header reads. A rename within the
directory (a file written under a hidden name, then given its own) says a file is whole at
once. A close after writing does not: a writer may close a file between the parts it
writes. A file moved in from elsewhere, or found by a rescan, waits too.
A stable file whose header does not read is *rejected* (truncated or corrupt): it is kept
aside, re-read only if it changes, and named in its group's error.

Only one process indexes at a time (the ``watcher`` lease, see :class:`~contimg.service.
Service`): group assembly is a read-then-write on the groups table, and one indexer also
means one header read per file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from contimg.config.settings import Settings
from contimg.instrument.naming import FileNameError
from contimg.science.convert.errors import CorruptFileError
from contimg.science.ingest import SubbandFile, read_header
from contimg.state import SqlStateRepository
from contimg.state._ingest import GroupRecord, GroupState

__all__ = ["IncomingWatcher", "Rejected", "ScanResult"]

_log = structlog.get_logger("contimg.service")

_Signature = tuple[int, int]


@dataclass(frozen=True)
class Rejected:
    """A whole-looking file that cannot be indexed."""

    file: SubbandFile
    reason: str
    signature: _Signature


@dataclass(frozen=True)
class ScanResult:
    """What one scan did."""

    indexed: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    completed: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    pending: int = 0


class _Handler(FileSystemEventHandler):
    def __init__(self, note: Callable[[str, bool], None]) -> None:
        self._note = note

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        if event.event_type == "moved" and dest:  # renamed within the directory: finished
            self._note(dest, True)
        else:
            self._note(os.fsdecode(event.src_path), False)


def _signature(path: Path) -> _Signature | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns) if st.st_size > 0 else None


def _interesting(path: Path) -> bool:
    return path.suffix == ".hdf5" and not path.name.startswith(".")


class IncomingWatcher:
    """Index the files landing in ``paths.incoming`` and settle their groups.

    Parameters
    ----------
    settings : Settings
        ``paths``, ``ingest``, ``instrument.n_subbands``.
    repository : SqlStateRepository
        Where files and groups are recorded.
    wake : threading.Event, optional
        Set when a filesystem event arrives (the service loop waits on it).
    """

    def __init__(
        self,
        settings: Settings,
        repository: SqlStateRepository,
        *,
        wake: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.directory = settings.paths.incoming_dir
        self.wake = wake or threading.Event()
        self._lock = threading.Lock()
        self._noted: set[Path] = set()
        self._written: set[Path] = set()  # noted as whole by their event
        self._seen: dict[Path, tuple[_Signature, float]] = {}  # not yet stable
        self._known: set[str] | None = None  # indexed paths (loaded on the first scan)
        self._bad_names: set[Path] = set()
        self.rejected: dict[Path, Rejected] = {}
        self._observer: BaseObserver | None = None
        self._last_rescan = float("-inf")

    # -- events -------------------------------------------------------------
    def start(self) -> None:
        """Start the filesystem observer (inotify, or polling with ``ingest.use_polling``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ingest = self.settings.ingest
        observer: BaseObserver = (
            PollingObserver(timeout=ingest.poll_interval_s) if ingest.use_polling else Observer()
        )
        observer.schedule(_Handler(self._note), str(self.directory), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        """Stop the observer."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _note(self, path: str, whole: bool = False) -> None:
        p = Path(path)
        if _interesting(p):
            with self._lock:
                self._noted.add(p.absolute())
                if whole:
                    self._written.add(p.absolute())
            self.wake.set()

    def forget(self) -> None:
        """Drop noted events (another process indexes); the next scan here is a full rescan."""
        with self._lock:
            self._noted.clear()
            self._written.clear()
        self._seen.clear()
        self._known = None

    def next_due_s(self) -> float | None:
        """Seconds until the first file waiting to be whole is due for a look, if any."""
        if not self._seen:
            return None
        wait = self.settings.ingest.stable_wait_s
        now = time.monotonic()
        return max(0.0, min(since + wait - now for _, since in self._seen.values()))

    # -- scanning -----------------------------------------------------------
    @property
    def pending(self) -> int:
        """Files seen but not yet indexed or rejected (still being written)."""
        with self._lock:
            return len(self._seen) + len(self._noted)

    def scan(self, *, full: bool = False) -> ScanResult:
        """Index what became whole; on ``full`` (or when due) rescan the whole directory."""
        if self._known is None:
            self._known = self.repository.service.indexed_paths(str(self.directory))
            full = True
        now = time.monotonic()
        with self._lock:
            noted, self._noted = self._noted, set()
            written, self._written = self._written, set()
        if full or now - self._last_rescan >= self.settings.ingest.rescan_interval_s:
            self._last_rescan = now
            try:
                noted.update(p.absolute() for p in self.directory.iterdir() if _interesting(p))
            except FileNotFoundError:
                self.directory.mkdir(parents=True, exist_ok=True)
        for path in noted:
            if str(path) in self._known or path in self._bad_names:
                continue
            if path in self.rejected and _signature(path) == self.rejected[path].signature:
                continue
            if path in written:  # whole by its event: no wait, but still read
                sig = _signature(path)
                if sig is not None:
                    self._seen[path] = (sig, now - self.settings.ingest.stable_wait_s)
            elif path not in self._seen:
                sig = _signature(path)
                if sig is not None:
                    self._seen[path] = (sig, now)
        stable = []
        for path, (sig, since) in list(self._seen.items()):
            current = _signature(path)
            if current is None:
                del self._seen[path]  # gone (renamed away or deleted)
            elif current != sig:
                self._seen[path] = (current, now)
            elif now - since >= self.settings.ingest.stable_wait_s:
                del self._seen[path]
                stable.append(path)
        indexed, rejected, completed = [], [], []
        for path in sorted(stable):
            outcome = self._index(path)
            if outcome is None:
                rejected.append(str(path))
            else:
                indexed.append(str(path))
                if outcome is not True:
                    completed.append(outcome)
        incomplete = self._settle()
        return ScanResult(
            tuple(indexed), tuple(rejected), tuple(completed), tuple(incomplete), len(self._seen)
        )

    def _index(self, path: Path) -> str | bool | None:
        """Index one stable file: ``None`` rejected, the group id if it completed it, else True."""
        try:
            base = SubbandFile.from_path(path)
        except FileNameError as exc:
            self._bad_names.add(path)
            _log.warning("file.ignored", path=str(path), reason=str(exc))
            return None
        sig = _signature(path)
        try:
            header = read_header(path)
            result = self.repository.groups.index_file(
                path,
                subband=base.subband,
                timestamp=base.timestamp,
                size=sig[0] if sig else 0,
                dec_deg=header.dec_deg,
                tolerance_s=self.settings.ingest.group_tolerance_s,
                n_expected=self.settings.instrument.n_subbands,
            )
        except (CorruptFileError, ValueError) as exc:
            reason = str(exc)
            self.rejected[path] = Rejected(base, reason, sig or (0, 0))
            _log.warning("file.rejected", path=str(path), reason=reason)
            return None
        self.rejected.pop(path, None)
        assert self._known is not None
        self._known.add(str(path))
        group = result.group
        _log.info(
            "file.indexed",
            path=str(path),
            group_id=group.group_id,
            subband=base.subband,
            n_subbands=group.n_subbands,
        )
        if result.new and group.state is GroupState.COMPLETE:
            _log.info("group.complete", group_id=group.group_id, n_subbands=group.n_subbands)
            return group.group_id
        return True

    # -- settling -----------------------------------------------------------
    def _rejects_for(self, group: GroupRecord, missing: set[int]) -> list[Rejected]:
        tol = timedelta(seconds=self.settings.ingest.group_tolerance_s)
        return [
            r
            for r in self.rejected.values()
            if r.file.subband in missing
            and group.first_timestamp - tol <= r.file.timestamp <= group.last_timestamp + tol
        ]

    def _settle(self) -> list[str]:
        """Move groups that can no longer complete to ``incomplete`` (naming rejected files).

        A collecting group is settled early when every missing subband is a rejected file
        (nothing else is coming), or once ``ingest.group_timeout_s`` has passed since its
        first file was indexed.
        """
        store = self.repository.groups
        timeout = self.settings.ingest.group_timeout_s
        settled: list[str] = []
        if self.rejected:
            n = self.settings.instrument.n_subbands
            cutoff = (time.time() - timeout) if timeout else None
            for group in store.list_groups(state=GroupState.COLLECTING, limit=10_000):
                have = {f.subband for f in store.list_files(group.group_id)}
                missing = set(range(n)) - have
                bad = self._rejects_for(group, missing)
                if not bad:
                    continue
                timed_out = cutoff is not None and group.created_at.timestamp() <= cutoff
                if {r.file.subband for r in bad} != missing and not timed_out:
                    continue
                error = "; ".join(f"{r.reason}" for r in sorted(bad, key=lambda r: r.file.subband))
                try:
                    store.set_state(group.group_id, GroupState.INCOMPLETE, error=error)
                except (KeyError, ValueError):  # changed meanwhile
                    continue
                _log.warning("group.incomplete", group_id=group.group_id, error=error)
                settled.append(group.group_id)
        for group in store.expire_collecting(timeout_s=timeout):
            _log.warning(
                "group.incomplete",
                group_id=group.group_id,
                n_subbands=group.n_subbands,
                timeout_s=timeout,
            )
            settled.append(group.group_id)
        return settled
