"""Demonstration datasets: collection in sim, robomimic-style HDF5 (native), a windowed torch loader with
normalization, and an export to the LeRobotDataset layout."""
from policy.datasets.hdf5 import (
    DatasetError,
    Demo,
    DemoFile,
    Normalizer,
    SequenceDataset,
    flat_obs,
    read_demos,
    write_demos,
)

__all__ = ["DatasetError", "Demo", "DemoFile", "Normalizer", "SequenceDataset", "flat_obs", "read_demos", "write_demos"]
