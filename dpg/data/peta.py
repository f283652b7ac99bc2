"""PETA's per-person attributes (Deng et al., ACM MM 2014; research use only), read from each
subset's ``Label.txt``: ``<id> attr attr ...`` per line, the id as the first field of the
subset's file names (CUHK's ids are whole file names, with an extension that may differ from
the image's). Used by ``bench/bench_real.py`` (attribute probes of the embeddings) and for
named slider directions."""

from __future__ import annotations

import os

# The clothing attributes the probes read (colours and kinds of garment), each a binary label.
CLOTHING = (
    "upperBodyBlack", "upperBodyWhite", "upperBodyGrey", "upperBodyBlue", "upperBodyRed", "upperBodyBrown",
    "upperBodyShortSleeve", "upperBodyJacket",
    "lowerBodyBlack", "lowerBodyBlue", "lowerBodyGrey", "lowerBodyJeans", "lowerBodyShorts",
)  # fmt: skip


def _key(label: str) -> str:
    """An id as the file names and ``Label.txt`` both give it: no extension, no leading zeros."""
    stem = os.path.splitext(label)[0]
    return stem.lstrip("0") or "0"


def read_labels(peta_root: str | os.PathLike) -> dict[tuple[str, str], frozenset[str]]:
    """``(subset, id) -> attributes`` for every subset folder of ``peta_root`` with a ``Label.txt``."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for subset in sorted(os.listdir(peta_root)):
        path = os.path.join(peta_root, subset, "Label.txt")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                fields = line.split()
                if fields:
                    out[(subset, _key(fields[0]))] = frozenset(fields[1:])
    return out


def attributes_of(labels: dict, subset: str, file_id: str) -> frozenset[str] | None:
    """The attributes of the person ``file_id`` (a file name's first field) of ``subset``."""
    return labels.get((subset, _key(file_id)))
