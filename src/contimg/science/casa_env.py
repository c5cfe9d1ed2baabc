"""Offline CASA environment: site config, log routing and scratch space for CASA's temporaries.

CASA 6 reads its site configuration (``CASASITECONFIG``) exactly once, when ``casatools`` is
first imported. Without one it tries to download measures data over the network and writes
``casa-*.log`` files into the current directory. :func:`ensure_casa_environment` writes a small
site config that points ``measurespath`` at the data shipped inside the python-casacore wheel,
turns every auto-update off and sends the log to ``os.devnull`` (or a file in ``log_dir``), then
exports ``CASASITECONFIG``. Call it before the first ``import casatools``/``casatasks``; import
those lazily, inside the functions that need them.

Examples
--------
>>> from contimg.science.casa_env import ensure_casa_environment
>>> path = ensure_casa_environment()
>>> path.name
'casasiteconfig.py'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "CasaEnvironmentError",
    "casa_log_file",
    "casa_scratch",
    "ensure_casa_environment",
    "write_casa_site_config",
]

_ENV_VAR = "CASASITECONFIG"
_DEFAULT_DIR = Path.home() / ".cache" / "contimg"


class CasaEnvironmentError(RuntimeError):
    """CASA cannot be configured offline (measures data missing, CASA already imported, ...)."""


def _measures_path() -> Path:
    """Return the measures directory shipped with python-casacore."""
    import casacore  # lazy: heavy

    path = Path(casacore.__file__).resolve().parent / "data"
    if not (path / "geodetic").is_dir():
        raise CasaEnvironmentError(
            f"python-casacore measures data not found at {path}; reinstall python-casacore"
        )
    return path


def _render(measurespath: Path, logfile: str) -> str:
    return (
        "# Written by contimg.science.casa_env: offline CASA configuration.\n"
        f"measurespath = {str(measurespath)!r}\n"
        "measures_auto_update = False\n"
        "data_auto_update = False\n"
        f"logfile = {logfile!r}\n"
        "nologger = True\n"
        "nogui = True\n"
        "agg = True\n"
        "telemetry_enabled = False\n"
        "crashreporter_enabled = False\n"
    )


def casa_log_file(log_dir: Path) -> Path:
    """Return the CASA log file used when logs are routed to ``log_dir``.

    Parameters
    ----------
    log_dir : Path
        Directory for logs (normally ``<workdir>/logs``).

    Returns
    -------
    Path
        ``<log_dir>/casa.log``.
    """
    return Path(log_dir).resolve() / "casa.log"


def write_casa_site_config(log_dir: Path | None = None, tmp_dir: Path | None = None) -> Path:
    """Write the offline CASA site config file (content-addressed, atomic) and return its path.

    Parameters
    ----------
    log_dir : Path, optional
        Where CASA's log goes (``<log_dir>/casa.log``). Default: ``os.devnull``.
    tmp_dir : Path, optional
        Directory for the site config file itself. Default: ``~/.cache/contimg`` (falls back to
        the system temporary directory when the home directory is not writable).

    Returns
    -------
    Path
        Absolute path of the site config file.
    """
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        logfile = str(casa_log_file(Path(log_dir)))
    else:
        logfile = os.devnull
    text = _render(_measures_path(), logfile)
    # One file per content (log destination), so concurrent processes with different log
    # dirs never overwrite each other's config between writing it and CASA reading it.
    sub = "." if log_dir is None else "casa-" + hashlib.sha1(logfile.encode()).hexdigest()[:10]
    candidates = [Path(tmp_dir)] if tmp_dir is not None else [_DEFAULT_DIR]
    candidates.append(Path(tempfile.gettempdir()) / f"contimg-{os.getuid()}")
    last_error: OSError | None = None
    for directory in candidates:
        try:
            target = (directory / sub).resolve()
            target.mkdir(parents=True, exist_ok=True)
            path = target / "casasiteconfig.py"
            if not path.exists() or path.read_text() != text:
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(text)
                tmp.replace(path)
            return path
        except OSError as exc:  # read-only home: try the next candidate
            last_error = exc
    raise CasaEnvironmentError(f"cannot write a CASA site config: {last_error}")


def ensure_casa_environment(log_dir: Path | None = None, tmp_dir: Path | None = None) -> Path:
    """Write the offline CASA site config and point ``CASASITECONFIG`` at it.

    Idempotent. CASA reads its config once, when ``casatools`` is first imported: called after
    that, this changes nothing and returns the config in force (a different log destination
    cannot take effect in this process any more).

    Parameters
    ----------
    log_dir : Path, optional
        Where CASA's log goes (``<log_dir>/casa.log``). Default: ``os.devnull``.
    tmp_dir : Path, optional
        Directory for the site config file (see :func:`write_casa_site_config`).

    Returns
    -------
    Path
        Absolute path of the site config file in force.
    """
    if "casatools" in sys.modules and os.environ.get(_ENV_VAR):
        return Path(os.environ[_ENV_VAR])
    path = write_casa_site_config(log_dir, tmp_dir)
    os.environ[_ENV_VAR] = str(path)
    return path


@contextlib.contextmanager
def casa_scratch(parent: Path | None = None) -> Iterator[Path]:
    """Run CASA inside a scratch directory that is removed afterwards, also on failure.

    CASA tasks drop temporaries (``TempLattice*``, ``*.last``, ipython logs) into the current
    working directory and ``TMPDIR``. Inside this context both point at a fresh directory.
    The working directory is process-wide: use it in a single-threaded worker process (casacore
    is not thread-safe anyway).

    Parameters
    ----------
    parent : Path, optional
        Where to create the scratch directory (e.g. ``<workdir>/scratch``). Default: the system
        temporary directory.

    Yields
    ------
    Path
        The scratch directory.
    """
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="casa-", dir=parent)).resolve()
    old_cwd = Path.cwd()
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    os.chdir(scratch)
    try:
        yield scratch
    finally:
        os.chdir(old_cwd)
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        shutil.rmtree(scratch, ignore_errors=True)
