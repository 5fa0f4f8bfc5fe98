"""How much generated input the tests that repeat one check over many inputs use, per profile.

``SMARTCITY_TEST_PROFILE`` chooses: ``ci`` (the default, what ``make test`` runs), ``fast`` (``make
test-fast``, the editing loop: the same properties over less input) or ``bench`` (more fuzz examples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VARIABLE = "SMARTCITY_TEST_PROFILE"


@dataclass(frozen=True)
class Sizes:
    """The input sizes of one profile."""

    fuzz_batches: int  # hostile message batches hypothesis generates (1-8 messages each)
    object_burst: int  # S3 object events in the orchestration's burst test
    city_seconds: int  # simulated seconds of city traffic the contract tests judge
    corpus_stride: int  # the contract's systematic and random corpora: every n-th message is judged


PROFILES = {
    "ci": Sizes(fuzz_batches=150, object_burst=1000, city_seconds=300, corpus_stride=1),
    "fast": Sizes(fuzz_batches=30, object_burst=200, city_seconds=90, corpus_stride=3),
    "bench": Sizes(fuzz_batches=3000, object_burst=1000, city_seconds=300, corpus_stride=1),
}


def current() -> Sizes:
    """The sizes of the profile the environment names; an unknown name is an error, not a default."""
    name = os.environ.get(PROFILE_VARIABLE, "ci")
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r}: expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


SIZES = current()
