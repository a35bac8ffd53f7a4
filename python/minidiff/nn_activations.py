"""Placeholder: filled by a work slice (modules built on md.nn.Module)."""

from __future__ import annotations

__all__: list[str] = []
