"""Latency budgets: a network's latency on a device, as a posynomial in its
widths that the design program can bound (issue: design for the device).

* :mod:`.terms`: what a network's latency is made of (terms per part);
* :mod:`.model`: :class:`LatencyModel`, the fitted coefficients, its exact
  prediction from a layout and the batched twin;
* :mod:`.device`: :class:`DeviceSettings` (device, batch, threads, dtype,
  layout) and the description of the machine a LUT records;
* :mod:`.measure`: timing modules and whole backbones in the deployed form
  (imports torch);
* :mod:`.profile`: the sampled parts of a family and the profile run that
  measures them and writes the LUT (imports torch);
* :mod:`.fit`: the non-negative least-squares fit, its held-out error, and
  whole-network errors;
* :mod:`.table`: the LUT file (:func:`load_lut`, :func:`save_lut`) and the
  device check.

Importing this package does not import torch.
"""
from .device import DeviceSettings, describe_device, device_mismatches
from .model import LatencyModel
from .table import LatencyTable, LutError, check_device, load_lut, save_lut

__all__ = [
    'DeviceSettings', 'LatencyModel', 'LatencyTable', 'LutError',
    'check_device', 'describe_device', 'device_mismatches', 'load_lut',
    'save_lut'
]
