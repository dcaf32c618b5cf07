"""Can this process open an X display? Asked before starting a window: Qt aborts the whole process
(SIGABRT) when it cannot connect, which would look like a crashing worker."""
from __future__ import annotations

import ctypes
import ctypes.util


def can_open_display(name: str) -> bool:
    """True when libX11 connects to ``name`` (e.g. ":0"); False when it cannot or libX11 is missing."""
    if not name:
        return False
    lib = ctypes.util.find_library("X11")
    if not lib:
        return False
    try:
        x11 = ctypes.CDLL(lib)
    except OSError:
        return False
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(name.encode())
    if not dpy:
        return False
    x11.XCloseDisplay(dpy)
    return True
