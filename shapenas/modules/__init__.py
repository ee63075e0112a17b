"""The searchable modules, their functional ops and the registry; each module file opens with its paper and follows
docs/MODULE_CONTRACT.md. `MODULES` (in `registry.py`) is the one list of them."""

from shapenas.modules.akconv import AKConv, akconv_sample
from shapenas.modules.dynamic_conv import DynamicConv
from shapenas.modules.dynamic_kernel import per_sample_conv
from shapenas.modules.dysample import DySample, dysample_sample
from shapenas.modules.odconv import ODConv, set_temperature, temperature_at
from shapenas.modules.registry import MODULES, ModuleSpec, create_module, module_spec
from shapenas.modules.spconv import SPConv

__all__ = [
    "MODULES",
    "AKConv",
    "DySample",
    "DynamicConv",
    "ModuleSpec",
    "ODConv",
    "SPConv",
    "akconv_sample",
    "create_module",
    "dysample_sample",
    "module_spec",
    "per_sample_conv",
    "set_temperature",
    "temperature_at",
]
