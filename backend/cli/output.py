"""Shared Rich console and JSON printing for every CLI command."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    # Plain print, not Rich: machine-readable output must not be wrapped or coloured.
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
