"""Placeholder: filled by a work slice (functional ops composed from existing ops)."""

from __future__ import annotations

__all__: list[str] = []
