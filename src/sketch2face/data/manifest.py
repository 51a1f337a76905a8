"""The manifest of a prepared folder (``prepare-data``): each item's identity, style, source and,
for freehand styles, landmarks; read by datasets, the freehand redrawing and evaluation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DatasetError

MANIFEST_FILE = "manifest.json"


def read_manifest(folder: str | Path) -> dict[str, dict[str, Any]] | None:
    """Items of a prepared folder by name, or None for a plain paired folder."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return {i["name"]: i for i in json.loads(path.read_text())["items"]}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DatasetError(f"{path}: corrupt manifest ({error}); delete it and run prepare-data again") from None
