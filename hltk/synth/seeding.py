"""Per-item random streams: every draw for an item comes from ``md5(seed, id)``.

Nothing in :mod:`hltk.synth` touches global random state, so a corpus does not depend on the
order in which items are made, on ``--jobs``, or on which items were made before.
"""

from __future__ import annotations

import hashlib

import numpy as np


def item_seed(seed: int, item_id: str, purpose: str = "") -> int:
    """A 64-bit integer from ``md5(f"{seed}:{item_id}:{purpose}")``.

    ``purpose`` separates independent streams of one item (``"text"``, ``"noise"``, ...), so
    that adding a draw to one stream does not shift another.
    """
    digest = hashlib.md5(f"{int(seed)}:{item_id}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def item_rng(seed: int, item_id: str, purpose: str = "") -> np.random.Generator:
    """A ``numpy.random.Generator`` (PCG64) seeded by :func:`item_seed`."""
    return np.random.default_rng(item_seed(seed, item_id, purpose))
