"""Data: shipped image sets, user arrays, 2-D toy mixtures, the 1-D target grammar."""
from .arrays import ArrayDataset, as_tensor, check_images, load_array_file
from .registry import DATASETS, load_dataset
from .targets import TARGETS, EqualMixture, format_target, parse_target, target_mean_std
from .toy import TOY_SETS, toy_modes

__all__ = ["ArrayDataset", "as_tensor", "check_images", "load_array_file", "load_dataset", "DATASETS",
           "TOY_SETS", "toy_modes", "parse_target", "format_target", "target_mean_std", "EqualMixture",
           "TARGETS"]
