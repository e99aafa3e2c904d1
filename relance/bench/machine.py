"""What the bench ran on: CPU model, cores and memory (from /proc), Python and the time."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _first(path: str, prefix: str) -> str:
    try:
        for text_line in Path(path).read_text().splitlines():
            if text_line.startswith(prefix):
                return text_line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def describe() -> dict:
    memory = _first("/proc/meminfo", "MemTotal")
    kib = int(memory.split()[0]) if memory else 0
    return {"cpu": _first("/proc/cpuinfo", "model name") or platform.processor(), "cores": os.cpu_count(),
            "memory_gib": round(kib / 1024 / 1024, 1) if kib else None, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}
