"""Search spaces: slots of a base model, per-slot choices, AKConv shapes, `suggest(trial) -> Candidate -> YAML`."""

from shapenas.spaces.candidate import Candidate, Choice
from shapenas.spaces.slots import Slot, find_slots
from shapenas.spaces.space import SearchSpace

__all__ = ["Candidate", "Choice", "SearchSpace", "Slot", "find_slots"]
