"""Sizes and durations for people: 20971520 -> "20.0 MiB" (binary units, as file managers
show them), 2000 s -> "33 min"."""

from __future__ import annotations


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop returns at GiB


def human_duration(seconds: float) -> str:
    """45 -> "45s", 2000 -> "33 min", 10000 -> "2.8 h": a wait or an estimate for people."""
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
