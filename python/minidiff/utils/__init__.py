"""torch.utils' names that minidiff has: ``md.utils.data`` (datasets, random_split, DataLoader)."""

from . import data

__all__ = ["data"]
