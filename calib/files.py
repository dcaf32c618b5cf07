"""Reading the small JSON input files of the calibration tools, with one-line errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_list(path: str | Path, key: str, what: str) -> list[Any]:
    """The non-empty list under ``key`` of the JSON object in ``path``; ValueError otherwise."""
    p = Path(path)
    try:
        data: Any = json.loads(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"{p}: {what} file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{p}: needs a non-empty '{key}' list")
    return items
