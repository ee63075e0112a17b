"""The names shapenas gives claims (`shapenas.search.fleet.claims`): the companion studies that hold them and the user
attributes stored on each claim. Claims are not candidates, so these are not trial-record fields
(`search.results.record`); their spelling is kept as the first claims stored it, so existing storages still read.
"""

from __future__ import annotations

# companion studies, named after the search they serve: "<study>" + suffix
PARENT_SUFFIX = ":shapenas-parent"  # the parent's maker (`shapenas.search.loop.parent`)
VERIFY_SUFFIX = ":shapenas-verify"  # each verify job (`shapenas.search.verify.jobs`)
COMPANION_SUFFIXES = (PARENT_SUFFIX, VERIFY_SUFFIX)


def parent_companion(study_name: str) -> str:
    """The companion study of `study_name` whose claims make its parent and measure its proxy noise."""
    return study_name + PARENT_SUFFIX


def verify_companion(study_name: str) -> str:
    """The companion study of `study_name` whose claims are its verify jobs."""
    return study_name + VERIFY_SUFFIX


# user attributes of a claim (a trial of a companion study)
JOB_ATTR = "job"  # the job it claims
RESULT_ATTR = "result"  # the job's result, stored by the claimant that did the work
