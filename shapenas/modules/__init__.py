"""The five searchable modules; each file opens with its paper and follows docs/MODULE_CONTRACT.md."""

from shapenas.modules.akconv import AKConv
from shapenas.modules.dynamic_conv import DynamicConv
from shapenas.modules.dysample import DySample
from shapenas.modules.odconv import ODConv, TemperatureSchedule, add_temperature_schedule
from shapenas.modules.spconv import SPConv

__all__ = ["AKConv", "DySample", "DynamicConv", "ODConv", "SPConv", "TemperatureSchedule", "add_temperature_schedule"]
