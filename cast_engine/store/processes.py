"""Whether the process that owns a run is still alive (on this machine)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def pid_is_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this machine (zombies count as ended)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_is_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """On Linux, True when ``pid`` has exited but was not yet reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] in ("Z", "X")


def _windows_pid_is_alive(pid: int) -> bool:
    """Windows check (os.kill(pid, 0) would send CTRL_C_EVENT there)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    process_query_limited_information = 0x1000
    still_active = 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        access_denied = 5
        return kernel32.GetLastError() == access_denied
    try:
        exit_code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(exit_code)):
            return True
        return exit_code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
