"""Reading the small JSON input files of the calibration tools, with one-line errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_text(path: str | Path, what: str, content: str = "JSON text") -> str:
    """The UTF-8 text of ``path``; a one-line ValueError naming the file when it is missing, a
    folder, unreadable or not UTF-8 (``content`` says what it should have held)."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{p}: {what} file not found") from None
    except IsADirectoryError:
        raise ValueError(f"{p} is a folder, not a {what} file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a {what} file (not UTF-8 {content})") from None
    except OSError as exc:
        raise ValueError(f"{p}: cannot read the {what} file ({exc.strerror})") from None


def read_json(path: str | Path, what: str) -> Any:
    """The JSON in ``path``; a one-line ValueError naming the file when it cannot be read
    (`read_text`) or is not valid JSON."""
    p = Path(path)
    try:
        return json.loads(read_text(p, what))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def read_json_list(path: str | Path, key: str, what: str) -> list[Any]:
    """The non-empty list under ``key`` of the JSON object in ``path``; ValueError otherwise."""
    p = Path(path)
    data = read_json(p, what)
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{p}: needs a non-empty '{key}' list")
    return items
