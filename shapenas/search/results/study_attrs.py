"""The names of every user attribute shapenas keeps on a study, in one place.

Each is spelled as the first studies stored it, so existing storages still read. Each attribute is written and read
by one module, named here. The attributes of the claims in a companion study (`<study>:shapenas-parent`, ...) are
`shapenas.search.fleet.claim_attrs`'s.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

CONFIG_ATTR = "shapenas_config"  # the config the study was created with (`search.loop.study`)
ENVIRONMENT_ATTR = "environment"  # library versions and device of the process that created it (`environment`)
LOCATION_ATTR = "shapenas_artifacts"  # where the creating process keeps its shared files (`results.artifacts`)
PARENT_ATTR = "parent"  # the parent checkpoint every candidate starts from (`search.loop.parent.ParentRecord`)
NOISE_ATTR = "proxy_noise"  # the baseline's proxy trained at more seeds (`search.results.noise.NoiseRuns`)
VERIFIED_PREFIX = "verified:"  # + trial number: its results at higher budgets (`search.verify.verified`)
PARENT_OF_ATTR = "shapenas_parent_of"  # on a parent companion study: the search it serves (`search.loop.parent`)
ORPHANED_PREFIX = "orphaned_result:"  # + trial number: a result that came back after its trial was failed (`record`)


def verified_attr(trial_number: int) -> str:
    return f"{VERIFIED_PREFIX}{trial_number}"


def orphaned_attr(trial_number: int) -> str:
    return f"{ORPHANED_PREFIX}{trial_number}"


def numbered(attrs: dict, prefix: str) -> dict[int, object]:
    """trial number -> value of every attribute named `prefix` + a trial number."""
    return {int(name[len(prefix) :]): value for name, value in attrs.items() if name.startswith(prefix)}


class FlatRecord:
    """For a frozen dataclass of JSON values kept in a study attribute: `to_attr` leaves out None fields, `from_attr`
    reads what older versions wrote (unknown keys ignored, missing ones None). Plain data only: nothing read runs."""

    def to_attr(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_attr(cls, stored: dict):
        return cls(**{f.name: stored.get(f.name) for f in fields(cls)})
