"""The community CSV formats (dpg.data.annotations): round trips, file:line errors, real files."""

import os

import numpy as np
import pytest

from dpg.data.annotations import read_annotation_csv, read_pairs_csv, write_annotation_csv, write_pairs_csv
from dpg.errors import UserError

HEADER = "name:keypoints_y:keypoints_x\n"
YS = "[8, 23, 23, 43, 60, 23, 43, 60, 64, 92, 118, 65, 89, 108, 5, 6, 7, 8]"
XS = "[39, 37, 20, 12, 8, 53, 59, 53, 22, 24, 24, 43, 43, 45, 36, 42, 31, 47]"
GOOD = f"0001_c1s1_000001_01.jpg: {YS}: {XS}\n"


def write(tmp_path, text, name="a.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_parse_converts_row_first_lists_to_xyv(tmp_path):
    line = "x.jpg: [5, -1" + ", 0" * 16 + "]: [7, -1" + ", 1" * 16 + "]\n"
    names, kp = read_annotation_csv(write(tmp_path, HEADER + line))
    assert names == ["x.jpg"]
    assert kp.shape == (1, 18, 3) and kp.dtype == np.float32
    assert kp[0, 0].tolist() == [7, 5, 1]  # (x = column list, y = row list, visible)
    assert kp[0, 1].tolist() == [0, 0, 0]  # -1 -> missing -> (0, 0, 0)
    assert kp[0, 2].tolist() == [1, 0, 1]


def test_annotation_round_trip_rounds_and_marks_missing(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.zeros((5, 18, 3), np.float32)
    kp[..., 0] = rng.uniform(0, 63, (5, 18))
    kp[..., 1] = rng.uniform(0, 127, (5, 18))
    kp[..., 2] = rng.random((5, 18)) < 0.7
    kp[kp[..., 2] == 0] = 0
    names = [f"{i:04d}_c1s1_000001_01.jpg" for i in range(5)]
    path = str(tmp_path / "k.csv")
    write_annotation_csv(path, names, kp)
    names2, kp2 = read_annotation_csv(path, image_size=(128, 64))
    assert names2 == names
    assert np.array_equal(kp2[..., 2], kp[..., 2])
    assert np.array_equal(kp2[..., :2], np.round(kp[..., :2]))
    # Writing what was read reproduces the file byte for byte.
    write_annotation_csv(tmp_path / "k2.csv", names2, kp2)
    assert (tmp_path / "k2.csv").read_bytes() == (tmp_path / "k.csv").read_bytes()


def test_writer_refuses_what_the_format_cannot_hold(tmp_path):
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, 3] = (-2.0, 5.0, 1.0)
    with pytest.raises(ValueError, match="joint 3 at .* left of or above the image"):
        write_annotation_csv(tmp_path / "k.csv", ["a.jpg"], kp)
    kp[0, 3] = (-0.4, 5.0, 1.0)  # rounds to 0: fine
    write_annotation_csv(tmp_path / "k.csv", ["a.jpg"], kp)
    assert read_annotation_csv(tmp_path / "k.csv")[1][0, 3].tolist() == [0, 5, 1]
    with pytest.raises(ValueError, match="cannot be written"):
        write_annotation_csv(tmp_path / "k.csv", ["a:b.jpg"], kp)


def test_crlf_and_non_utf8_files(tmp_path):
    names, _ = read_annotation_csv(write(tmp_path, (HEADER + GOOD).replace("\n", "\r\n")))
    assert names == ["0001_c1s1_000001_01.jpg"]
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"\xe9" + GOOD.encode())
    with pytest.raises(UserError, match="not a UTF-8 text file"):
        read_annotation_csv(path)


def test_empty_annotation_file_reads_as_zero_rows(tmp_path):
    names, kp = read_annotation_csv(write(tmp_path, HEADER))
    assert names == [] and kp.shape == (0, 18, 3)


MALFORMED = {
    "column count": f"b.jpg: {YS}\n",
    "extra column": f"b.jpg: {YS}: {XS}: {XS}\n",
    "bad json": f"b.jpg: [1, 2,: {XS}\n",
    "not a list": f"b.jpg: 5: {XS}\n",
    "short list": f"b.jpg: [1, 2, 3]: {XS}\n",
    "float": f"b.jpg: {YS.replace('8,', '8.5,', 1)}: {XS}\n",
    "string": "b.jpg: " + YS.replace("8,", '"8",', 1) + f": {XS}\n",
    "negative": f"b.jpg: {YS.replace('8,', '-3,', 1)}: {XS}\n",
    "beyond image": f"b.jpg: {YS.replace('118', '128')}: {XS}\n",
    "one-sided missing": f"b.jpg: {YS.replace('8,', '-1,', 1)}: {XS}\n",
    "empty name": f": {YS}: {XS}\n",
    "duplicate name": GOOD,
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_row_names_file_and_line(tmp_path, kind):
    path = write(tmp_path, HEADER + GOOD + "\n" + MALFORMED[kind])  # the bad row is line 4
    with pytest.raises(UserError, match=f"{path}:4: "):
        read_annotation_csv(path, image_size=(128, 64))


def test_bad_header_and_missing_file(tmp_path):
    path = write(tmp_path, "name,keypoints_y,keypoints_x\n" + GOOD)
    with pytest.raises(UserError, match=f"{path}:1: expected header"):
        read_annotation_csv(path)
    with pytest.raises(UserError, match="cannot read annotation CSV"):
        read_annotation_csv(tmp_path / "absent.csv")


def test_pairs_round_trip_and_errors(tmp_path):
    pairs = [("a.jpg", "b.jpg"), ("b.jpg", "a.jpg"), ("c.jpg", "a.jpg")]
    write_pairs_csv(tmp_path / "p.csv", pairs)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "from,to"
    assert read_pairs_csv(tmp_path / "p.csv") == pairs
    for bad, line in [
        ("from,to\na.jpg,b.jpg\na.jpg\n", 3),
        ("from,to\na.jpg,b.jpg,c.jpg\n", 2),
        ("from,to\n,b.jpg\n", 2),
    ]:
        path = write(tmp_path, bad, "bad.csv")
        with pytest.raises(UserError, match=f"{path}:{line}: expected two image names"):
            read_pairs_csv(path)
    with pytest.raises(UserError, match=":1: expected header 'from,to'"):
        read_pairs_csv(write(tmp_path, "a,b\nx,y\n", "hdr.csv"))


# ---------------------------------------------------------------------------------------
# The real community files (../shared/data), read in place


@pytest.mark.parametrize(
    "rel, size, rows, empty",
    [
        ("market/market-annotation-train.csv", (128, 64), 12936, 419),
        ("market/market-annotation-test.csv", (128, 64), 19732, None),
        ("deepfashion/fasion-annotation-test.csv", (256, 256), 4061, None),
    ],
)
def test_real_annotation_files(shared_data, tmp_path, rel, size, rows, empty):
    path = os.path.join(shared_data, rel)
    names, kp = read_annotation_csv(path, image_size=size)
    assert len(names) == len(set(names)) == rows and kp.shape == (rows, 18, 3)
    if empty is not None:
        assert int((kp[..., 2].sum(1) == 0).sum()) == empty  # rows with no keypoint at all
    # Present joints lie inside the image; the writer reproduces the published file exactly.
    vis = kp[..., 2] > 0
    assert kp[..., 0][vis].max() <= size[1] - 1 and kp[..., 1][vis].max() <= size[0] - 1
    write_annotation_csv(tmp_path / "out.csv", names, kp)
    with open(path, "rb") as f:
        assert (tmp_path / "out.csv").read_bytes() == f.read()


@pytest.mark.parametrize(
    "pairs_rel, annotation_rel, count",
    [
        ("market/market-pairs-test.csv", "market/market-annotation-test.csv", 12000),
        ("deepfashion/fasion-pairs-test.csv", "deepfashion/fasion-annotation-test.csv", 8670),
    ],
)
def test_real_pairs_files(shared_data, pairs_rel, annotation_rel, count):
    pairs = read_pairs_csv(os.path.join(shared_data, pairs_rel))
    names, _ = read_annotation_csv(os.path.join(shared_data, annotation_rel))
    assert len(pairs) == len(set(pairs)) == count
    known = set(names)
    assert all(a in known and b in known and a != b for a, b in pairs)
