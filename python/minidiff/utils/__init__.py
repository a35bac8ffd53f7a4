"""torch.utils' names that minidiff has: ``md.utils.data`` (datasets, random_split, DataLoader) and
torchvision.utils' ``make_grid`` / ``save_image``."""

from . import data
from .vision import make_grid, save_image

__all__ = ["data", "make_grid", "save_image"]
