"""``DATASETS``: every named data set, ``loader(split, data_dir) -> ArrayDataset``.

Loaders register themselves where they are defined (``images.py``, ``toy.py``, a user's module):
``@DATASETS.register("name")``. ``load_dataset`` (registry.py) is the one entry point.
"""
from ..registry import Registry

DATASETS = Registry("data set", argument="data")
