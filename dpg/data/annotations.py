"""The pose-transfer community's CSV formats, converted at the edge to dpg's keypoint convention.

Annotation CSV (``market-annotation-{train,test}.csv``, ``fasion-annotation-test.csv``; see
``tengteng95/Pose-Transfer`` ``tool/compute_coordinates.py``)::

    name:keypoints_y:keypoints_x
    0224_c6s1_055726_02.jpg: [8, 23, ...18 ints]: [39, 37, ...18 ints]

Separator ``:``; each keypoint column a JSON list of 18 integers in OpenPose COCO-18 order;
the **row (y) list first**; ``-1`` marks a missing joint; pixel indices of the stored image
(Market-1501 128x64, DeepFashion 256x256). Inside dpg the same keypoints are float32
``[N, 18, 3]`` rows ``(x, y, v)`` with missing joints ``(0, 0, 0)`` (see ``dpg.__init__``).

Pairs CSV (``*-pairs-{train,test}.csv``): comma-separated, header ``from,to``, one ordered
(source, target) pair of image names per line.

Every reader raises ``dpg.errors.UserError`` naming ``file:line`` for a malformed row, so a
bad annotation file is reported where it is wrong instead of surfacing as a shape error later.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from dpg.errors import UserError

NUM_JOINTS = 18
ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
PAIRS_HEADER = ("from", "to")
# Coordinates beyond this are no pixel index of any image a person crop comes in; catching
# them here finds swapped columns or a float-scaled file before it reaches the model.
MAX_COORDINATE = 4096


def _parse_coords(text: str, where: str, what: str, limit: int) -> list[int]:
    """One JSON list of 18 ints in ``{-1} U [0, limit)``; ``where`` is ``file:line``."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: {what} is not a JSON list ({err.msg}): {text.strip()[:60]!r}") from None
    if not isinstance(values, list) or len(values) != NUM_JOINTS:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise UserError(f"{where}: {what} must be a list of {NUM_JOINTS} integers, got {got}")
    for v in values:
        # bool is an int subclass in Python; a float like 3.0 is a different file format.
        if not isinstance(v, int) or isinstance(v, bool):
            raise UserError(f"{where}: {what} holds a non-integer value {v!r}")
        if v != -1 and not 0 <= v < limit:
            raise UserError(f"{where}: {what} holds {v}, outside -1 (missing) or 0..{limit - 1}")
    return values


def read_annotation_csv(path: str | os.PathLike, image_size: tuple[int, int] | None = None) -> tuple[list[str], np.ndarray]:
    """Read a community annotation CSV.

    Args:
        path: the ``name:keypoints_y:keypoints_x`` file.
        image_size: ``(height, width)``; if given, a coordinate outside the image is an error,
            otherwise only coordinates beyond ``MAX_COORDINATE`` are.

    Returns:
        ``names`` (one per row, file order) and ``keypoints`` float32 ``[N, 18, 3]`` rows
        ``(x, y, v)``, missing joints ``(0, 0, 0)``.

    Raises:
        UserError: naming ``file:line`` for a bad header, a wrong column count, bad JSON, a
        list of the wrong length, non-integers, out-of-range coordinates, a joint missing in
        one list only, an empty or duplicate name.
    """
    path = os.fspath(path)
    limit = image_size if image_size is not None else (MAX_COORDINATE, MAX_COORDINATE)
    names, rows = _read_text(path, "annotation CSV", lambda handle: _parse_annotations(handle, path, limit))
    keypoints = np.stack(rows) if rows else np.zeros((0, NUM_JOINTS, 3), np.float32)
    return names, keypoints


def _parse_annotations(handle, path: str, limit: tuple[int, int]) -> tuple[list[str], list[np.ndarray]]:
    """The rows of an open annotation CSV: names and ``[18, 3]`` arrays (see the reader)."""
    names: list[str] = []
    rows: list[np.ndarray] = []
    seen: dict[str, int] = {}
    header = handle.readline().strip()
    if header != ANNOTATION_HEADER:
        raise UserError(f"{path}:1: expected header {ANNOTATION_HEADER!r}, got {header[:60]!r}")
    for lineno, line in enumerate(handle, start=2):
        if not line.strip():
            continue  # a trailing blank line is common and harmless
        where = f"{path}:{lineno}"
        fields = line.rstrip("\r\n").split(":")
        if len(fields) != 3:
            raise UserError(f"{where}: expected 3 ':'-separated columns (name, y list, x list), got {len(fields)}")
        name = fields[0].strip()
        if not name:
            raise UserError(f"{where}: empty image name")
        if name in seen:
            raise UserError(f"{where}: image {name} already annotated on line {seen[name]}")
        seen[name] = lineno
        ys = _parse_coords(fields[1], where, "keypoints_y", limit[0])
        xs = _parse_coords(fields[2], where, "keypoints_x", limit[1])
        kp = np.zeros((NUM_JOINTS, 3), np.float32)
        for j, (y, x) in enumerate(zip(ys, xs)):
            if (y == -1) != (x == -1):
                raise UserError(f"{where}: joint {j} is missing (-1) in one list only (y={y}, x={x})")
            if y != -1:
                kp[j] = (x, y, 1.0)
        names.append(name)
        rows.append(kp)
    return names, rows


def write_annotation_csv(path: str | os.PathLike, names: Sequence[str], keypoints: np.ndarray) -> None:
    """Write ``names`` and ``keypoints`` ``[N, 18, 3]`` ``(x, y, v)`` in the community format.

    Coordinates are rounded to the nearest integer (half to even); joints with ``v <= 0`` (or
    a NaN coordinate) are written as ``-1``. A present joint that rounds to a negative
    coordinate raises ``ValueError``: the format cannot hold it. The output is byte-compatible
    with the published files (``": "`` before each list, ``", "`` between values, ``\\n`` line
    ends).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"keypoints must be [N, {NUM_JOINTS}, 3], got {list(keypoints.shape)}")
    if len(names) != len(keypoints):
        raise ValueError(f"{len(names)} names but {len(keypoints)} keypoint rows")
    lines = [ANNOTATION_HEADER]
    for name, kp in zip(names, keypoints):
        if ":" in name or "\n" in name:
            raise ValueError(f"image name {name!r} cannot be written: it holds ':' or a newline")
        present = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(axis=1)
        xy = np.where(present[:, None], np.rint(kp[:, :2]), -1).astype(np.int64)  # [18, 2]
        outside = present & (xy < 0).any(axis=1)
        if outside.any():
            j = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"{name}: joint {j} at ({kp[j, 0]:.1f}, {kp[j, 1]:.1f}) is left of or above the image; "
                "the format has no negative coordinates (mark the joint missing)"
            )
        ys, xs = xy[:, 1].tolist(), xy[:, 0].tolist()
        lines.append(f"{name}: {json.dumps(ys)}: {json.dumps(xs)}")
    _write_text(path, "\n".join(lines) + "\n")


def read_pairs_csv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a ``from,to`` pairs CSV into ordered ``(source, target)`` name tuples.

    Raises:
        UserError: naming ``file:line`` for a bad header, a row without exactly two
        non-empty names.
    """
    path = os.fspath(path)
    return _read_text(path, "pairs CSV", lambda handle: _parse_pairs(handle, path))


def _parse_pairs(handle, path: str) -> list[tuple[str, str]]:
    """The rows of an open pairs CSV (see the reader)."""
    pairs: list[tuple[str, str]] = []
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != PAIRS_HEADER:
        raise UserError(f"{path}:1: expected header 'from,to', got {','.join(header or [])[:60]!r}")
    for row in reader:
        lineno = reader.line_num
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise UserError(f"{path}:{lineno}: expected two image names 'from,to', got {','.join(row)[:80]!r}")
        pairs.append((row[0].strip(), row[1].strip()))
    return pairs


def _read_text(path: str, what: str, parse):
    """Open ``path`` as UTF-8 text and return ``parse(handle)``; I/O and encoding failures
    become ``UserError``s naming the file."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return parse(handle)
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None


def write_pairs_csv(path: str | os.PathLike, pairs: Iterable[tuple[str, str]]) -> None:
    """Write ordered ``(source, target)`` pairs as a ``from,to`` CSV (``\\n`` line ends)."""
    lines = [",".join(PAIRS_HEADER)]
    for a, b in pairs:
        if any(c in s for s in (a, b) for c in ',\n"'):
            raise ValueError(f"pair ({a!r}, {b!r}) cannot be written: a name holds ',', '\"' or a newline")
        lines.append(f"{a},{b}")
    _write_text(path, "\n".join(lines) + "\n")


def _write_text(path: str | os.PathLike, text: str) -> None:
    """Write atomically (temp file + ``os.replace``) so a crash never leaves half a CSV."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)
