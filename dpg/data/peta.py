"""PETA's per-person attributes (Deng et al., ACM MM 2014; research use only), read from each
subset's ``Label.txt``: ``<id> attr attr ...`` per line, the id as the first field of the
subset's file names (CUHK's ids are whole file names, with an extension that may differ from
the image's). Used by ``bench/bench_real.py`` (attribute probes of the embeddings) and for
named slider directions."""

from __future__ import annotations

import csv
import os

import numpy as np

# The clothing attributes the probes read (colours and kinds of garment), each a binary label.
CLOTHING = (
    "upperBodyBlack",
    "upperBodyWhite",
    "upperBodyGrey",
    "upperBodyBlue",
    "upperBodyRed",
    "upperBodyBrown",
    "upperBodyShortSleeve",
    "upperBodyJacket",
    "lowerBodyBlack",
    "lowerBodyBlue",
    "lowerBodyGrey",
    "lowerBodyJeans",
    "lowerBodyShorts",
)


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


def crop_attributes(prepared_root: str | os.PathLike, names: list[str], labels: dict, attrs=CLOTHING) -> np.ndarray:
    """int8 ``[N, len(attrs)]`` for crops of a prepared folder (``dpg prepare``): 1 where the
    crop's person has the attribute, 0 where not, -1 rows where the crop is not PETA's (its
    source in ``prepare-index.csv`` is another set, or its person has no label)."""
    index = {}
    with open(os.path.join(prepared_root, "prepare-index.csv"), newline="") as f:
        for row in csv.DictReader(f):
            index[row["name"]] = row
    out = np.full((len(names), len(attrs)), -1, np.int8)
    for i, nm in enumerate(names):
        row = index.get(nm)
        if row is None or os.sep + "peta" + os.sep not in row["source"]:
            continue
        subset = os.path.basename(os.path.dirname(row["source"]))
        found = attributes_of(labels, subset, row["identity"].rsplit(":", 1)[-1])
        if found is not None:
            out[i] = [a in found for a in attrs]
    return out
