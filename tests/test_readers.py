"""Market-1501 and DeepFashion readers (dpg.data.market, .deepfashion, .folder) on fixtures the
tests write themselves and on the real CSVs in ../shared/data."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from dpg import keypoints as K
from dpg.data.annotations import read_annotation_csv, read_pairs_csv, write_annotation_csv, write_pairs_csv
from dpg.data.deepfashion import DeepFashionDataset, DeepFashionPairDataset, parse_deepfashion_name
from dpg.data.folder import derive_pairs
from dpg.data.market import (
    MarketDataset,
    MarketName,
    MarketPairDataset,
    is_distractor,
    is_junk,
    market_identity,
    parse_market_name,
    reid_gallery_mask,
)
from dpg.errors import UserError

# A standing person in a 128x64 crop, (x, y) per COCO-18 joint; made up for the fixtures.
STANDING = np.array(
    [
        (32, 10),
        (32, 24),
        (21, 25),
        (17, 44),
        (15, 60),
        (43, 25),
        (47, 44),
        (49, 60),
        (25, 64),
        (24, 92),
        (24, 118),
        (39, 64),
        (40, 92),
        (40, 118),
        (35, 8),
        (29, 8),
        (39, 10),
        (25, 10),
    ],
    dtype=np.float32,
)


def make_keypoints(n, seed=0, scale=1.0, drop=()):
    """``n`` jittered standing poses ``[n, 18, 3]`` (integer pixels); joints in ``drop`` missing."""
    rng = np.random.default_rng(seed)
    kp = np.ones((n, 18, 3), np.float32)
    kp[..., :2] = np.round(STANDING * scale + rng.integers(-2, 3, (n, 18, 2)))
    kp[:, list(drop)] = 0
    return kp


def write_folder(folder, names, size, seed=0):
    """Small smooth random JPEGs named ``names`` of ``size`` (height, width)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        low = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize((size[1], size[0]), Image.BILINEAR).save(os.path.join(folder, name), quality=95)


MARKET_TRAIN = [
    "0002_c1s1_000451_03.jpg",
    "0002_c2s1_000301_01.jpg",
    "0002_c3s1_000551_01.jpg",
    "0007_c1s6_028546_01.jpg",
    "0007_c2s3_070952_01.jpg",
    "0011_c4s1_001101_02.jpg",
]
MARKET_TEST = [
    "-1_c1s1_000401_03.jpg",
    "0000_c1s1_000151_01.jpg",
    "0001_c1s1_001051_03.jpg",
    "0001_c2s1_000301_01.jpg",
    "0003_c3s1_000176_01.jpg.jpg",
]


@pytest.fixture
def market_root(tmp_path):
    """A miniature Market-1501 root: train and test folders, annotation CSVs, test pairs."""
    root = tmp_path / "market"
    for split, names in (("train", MARKET_TRAIN), ("test", MARKET_TEST)):
        write_folder(root / f"bounding_box_{split}", names, (128, 64), seed=len(names))
        kp = make_keypoints(len(names), seed=len(names))
        if split == "train":
            kp[2, 8] = 0  # 0002's third image lacks its right hip: in no derived pair
        write_annotation_csv(root / f"market-annotation-{split}.csv", names, kp)
    write_pairs_csv(root / "market-pairs-test.csv", [("0001_c1s1_001051_03.jpg", "0001_c2s1_000301_01.jpg")])
    return root


# ---------------------------------------------------------------------------------------
# Names, ids, cameras, the re-ID protocol


def test_parse_market_names():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == MarketName(2, 1, 1, 451, 3)
    assert parse_market_name("-1_c3s2_012345_00.jpg").person == -1
    assert parse_market_name("0000_c6s4_002427_02.jpg").person == 0
    assert parse_market_name("1488_c5s3_071737_01.jpg.jpg") == MarketName(1488, 5, 3, 71737, 1)
    assert market_identity("/x/1501_c6s4_001876_03.jpg") == (1501, 6)
    assert is_junk("-1_c1s1_000401_03.jpg") and not is_junk("0000_c1s1_000151_01.jpg")
    assert is_distractor("0000_c1s1_000151_01.jpg") and not is_distractor("0001_c1s1_001051_03.jpg")
    for bad in ("0002_c1_000451_03.jpg", "02_c1s1_000451_03.jpg", "0002_c1s1_000451_03.png", "x.jpg"):
        with pytest.raises(UserError, match="not a Market-1501 file name"):
            parse_market_name(bad)


def test_reid_gallery_mask_follows_the_protocol():
    ids = np.array([5, 5, 5, -1, 0, 7])
    cams = np.array([1, 2, 1, 2, 1, 1])
    keep = reid_gallery_mask(5, 1, ids, cams)
    # same id + same camera dropped, junk dropped, distractor and other ids kept
    assert keep.tolist() == [False, True, False, False, True, True]


def test_real_market_test_split(shared_data):
    names, _ = read_annotation_csv(os.path.join(shared_data, "market/market-annotation-test.csv"))
    people = np.array([parse_market_name(n).person for n in names])
    assert (people == -1).sum() == 3819 and (people == 0).sum() == 2798
    kept = people[people > 0]
    assert len(kept) == 13115 and len(np.unique(kept)) == 750  # the reference's [6617:]
    assert sum(n.endswith(".jpg.jpg") for n in names) == 18
    pairs = read_pairs_csv(os.path.join(shared_data, "market/market-pairs-test.csv"))
    for a, b in pairs:
        pa, pb = parse_market_name(a).person, parse_market_name(b).person
        assert pa == pb > 0


# ---------------------------------------------------------------------------------------
# Pairs


def test_derive_pairs_rule():
    kp = make_keypoints(5)
    kp[1, 11] = 0  # image 1 lacks the left hip
    pairs = derive_pairs(["a", "b", "c", "d", "e"], kp, [1, 1, 1, 2, 3])
    assert pairs == [("a", "c"), ("c", "a")]  # b filtered, e alone, d alone


def test_real_market_train_pairs(shared_data):
    names, kp = read_annotation_csv(os.path.join(shared_data, "market/market-annotation-train.csv"))
    ids = [parse_market_name(n).person for n in names]
    pairs = derive_pairs(names, kp, ids)
    assert len(pairs) == 263632  # the PATN/Deformable GAN filter
    assert len(derive_pairs(names, kp, ids, required_joints=())) == 296938  # PG2's issue #43 count
    lookup = dict(zip(names, kp))
    for a, b in pairs[::997]:
        assert a != b and a[:4] == b[:4]
        assert (lookup[a][[2, 5, 8, 11], 2] == 1).all() and (lookup[b][[2, 5, 8, 11], 2] == 1).all()


def test_real_market_test_pairs_follow_the_same_rule(shared_data):
    names, kp = read_annotation_csv(os.path.join(shared_data, "market/market-annotation-test.csv"))
    ids = np.array([parse_market_name(n).person for n in names])
    keep = ids > 0
    derived = set(derive_pairs([n for n, k in zip(names, keep) if k], kp[keep], ids[keep]))
    published = read_pairs_csv(os.path.join(shared_data, "market/market-pairs-test.csv"))
    assert set(published) <= derived  # the 12,000 test pairs were sampled from these


# ---------------------------------------------------------------------------------------
# DeepFashion identity


def test_deepfashion_identity_rule():
    name = parse_deepfashion_name("fasionWOMENDressesid0000553705_4full.jpg")
    assert (name.gender, name.category, name.item, name.outfit, name.view) == ("WOMEN", "Dresses", 5537, 5, "full")
    assert name.identity == 553705
    # GFLA-style names keep the category's underscore: same identity, not the text before '_'.
    gfla = parse_deepfashion_name("fashionWOMENTees_Tanksid0000553705_1front.jpg")
    assert gfla.category == "Tees_Tanks" and gfla.identity == 553705
    with pytest.raises(UserError, match="not a DeepFashion"):
        parse_deepfashion_name("0002_c1s1_000451_03.jpg")


def test_real_deepfashion_identities(shared_data):
    names, kp = read_annotation_csv(os.path.join(shared_data, "deepfashion/fasion-annotation-test.csv"))
    parsed = {n: parse_deepfashion_name(n) for n in names}  # every real row parses
    keys = {(p.gender, p.category, p.item, p.outfit) for p in parsed.values()}
    assert len({p.identity for p in parsed.values()}) == len(keys)  # the int loses nothing
    # Deformable GAN held out 1,000 ids for test: this rule finds exactly 1,000 (934 item ids).
    assert len(keys) == 1000 and len({p.item for p in parsed.values()}) == 934
    # Its pair rule over these identities gives exactly the published 8,670 test pairs.
    pairs = read_pairs_csv(os.path.join(shared_data, "deepfashion/fasion-pairs-test.csv"))
    assert all(parsed[a].identity == parsed[b].identity for a, b in pairs)
    assert set(derive_pairs(names, kp, [parsed[n].identity for n in names])) == set(pairs)


# ---------------------------------------------------------------------------------------
# Dataset items


def test_market_items_on_fixture(market_root):
    ds = MarketDataset(market_root, "train")
    assert len(ds) == 6 and sorted(set(ds.identities.tolist())) == [2, 7, 11]
    item = ds[0]
    assert item["image"].shape == (3, 128, 64) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1 and item["image"].is_contiguous()
    pixels = np.array(Image.open(market_root / "bounding_box_train" / item["name"]).convert("RGB"))
    assert torch.allclose((item["image"].permute(1, 2, 0) + 1) * 127.5, torch.from_numpy(pixels).float(), atol=1e-3)
    kp = ds.keypoints[0]
    assert torch.equal(item["keypoints"], torch.from_numpy(kp))
    assert item["mask"].shape == (1, 128, 64) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(item["mask"][0].bool(), torch.from_numpy(K.pose_mask(kp, 128, 64, 7)))
    boxes, vis = K.body_rois(kp, 128, 64)
    assert torch.equal(item["rois"], torch.from_numpy(boxes)) and torch.equal(item["roi_vis"], torch.from_numpy(vis))
    assert (item["name"], item["identity"], item["camera"], item["flipped"]) == (MARKET_TRAIN[0], 2, 1, False)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 128, 64) and batch["identity"].tolist() == [2, 2, 2, 7]


def test_real_crops_read(shared_data):
    ds = MarketDataset(os.path.join(shared_data, "market"), "train", missing="skip")
    assert len(ds) == 20 and ds.num_missing == 12936 - 20
    item = ds[0]
    # The CSV's joints belong to these pixels: the pose mask covers the person, not the frame.
    assert 0.15 < item["mask"].mean() < 0.8


def test_market_test_split_drops_junk_and_distractors(market_root):
    assert MarketDataset(market_root, "test").names == MARKET_TEST[2:]
    everything = MarketDataset(market_root, "test", include_junk=True, include_distractors=True)
    assert everything.names == MARKET_TEST and everything.identities.tolist() == [-1, 0, 1, 1, 3]


def test_flip_mirrors_everything_together(market_root):
    ds = MarketDataset(market_root, "train")
    plain, flipped = ds.load(1, flip=False), ds.load(1, flip=True)
    assert flipped["flipped"]
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    assert torch.equal(flipped["mask"], plain["mask"].flip(-1))
    kp = K.flip_keypoints(plain["keypoints"].numpy(), 64)
    assert np.array_equal(flipped["keypoints"].numpy(), kp)
    # The mirrored ROIs are the ROIs of the mirrored keypoints (integer joints).
    boxes, vis = K.body_rois(kp, 128, 64)
    assert np.array_equal(flipped["rois"].numpy(), boxes) and np.array_equal(flipped["roi_vis"].numpy(), vis)
    # The right shoulder of the flipped person sits where the left one was, mirrored.
    assert flipped["keypoints"][2, 0] == 63 - plain["keypoints"][5, 0]


def test_flip_probability(market_root):
    torch.manual_seed(0)
    assert not any(MarketDataset(market_root, "train", flip_prob=0.0)[i]["flipped"] for i in range(6))
    assert all(MarketDataset(market_root, "train", flip_prob=1.0)[i]["flipped"] for i in range(6))
    coins = [MarketDataset(market_root, "train", flip_prob=0.5)[0]["flipped"] for _ in range(40)]
    assert 5 < sum(coins) < 35


def test_market_pairs_on_fixture(market_root):
    train = MarketPairDataset(market_root, "train", flip_prob=0.5)
    # 0002 keeps 2 valid images (2 ordered pairs), 0007 has 2 (2 pairs), 0011 one (none).
    assert train.pairs == [
        (MARKET_TRAIN[0], MARKET_TRAIN[1]),
        (MARKET_TRAIN[1], MARKET_TRAIN[0]),
        (MARKET_TRAIN[3], MARKET_TRAIN[4]),
        (MARKET_TRAIN[4], MARKET_TRAIN[3]),
    ]
    torch.manual_seed(1)
    for _ in range(8):
        item = train[2]
        assert item["name_a"] == MARKET_TRAIN[3] and item["name_b"] == MARKET_TRAIN[4]
        assert item["identity_a"] == item["identity_b"] == 7
        assert item["flipped_a"] == item["flipped_b"]  # one coin per pair
        assert item["image_a"].shape == item["image_b"].shape == (3, 128, 64)
    test = MarketPairDataset(market_root, "test")
    assert len(test) == 1 and test[0]["name_b"] == "0001_c2s1_000301_01.jpg"


def test_deepfashion_items_on_fixture(tmp_path):
    names = ["fasionMENDenimid0000008001_1front.jpg", "fasionMENDenimid0000008001_2side.jpg", "fasionWOMENDressesid0000553705_4full.jpg"]
    write_folder(tmp_path / "test", names, (256, 256))
    write_annotation_csv(tmp_path / "fasion-annotation-test.csv", names, make_keypoints(3, scale=2.0))
    write_pairs_csv(tmp_path / "fasion-pairs-test.csv", [(names[0], names[1])])
    ds = DeepFashionDataset(tmp_path, "test", flip_prob=0.5)
    item = ds[2]
    assert item["image"].shape == (3, 256, 256) and item["mask"].shape == (1, 256, 256)
    assert (item["identity"], item["camera"]) == (553705, -1)
    plain = ds.load(0)
    assert torch.equal(plain["mask"][0].bool(), torch.from_numpy(K.pose_mask(ds.keypoints[0], 256, 256, 8)))
    assert np.array_equal(plain["rois"].numpy(), K.body_rois_deepfashion(ds.keypoints[0])[0])
    pairs = DeepFashionPairDataset(tmp_path, "test")
    assert len(pairs) == 1 and pairs[0]["identity_a"] == pairs[0]["identity_b"] == 8001


# ---------------------------------------------------------------------------------------
# Errors


def test_missing_image_is_named(market_root):
    os.remove(market_root / "bounding_box_train" / MARKET_TRAIN[4])
    with pytest.raises(UserError, match=f"1 of the 6 images .* missing .*{MARKET_TRAIN[4]}"):
        MarketDataset(market_root, "train")
    ds = MarketDataset(market_root, "train", missing="skip")
    assert len(ds) == 5 and ds.num_missing == 1 and MARKET_TRAIN[4] not in ds.names
    # A file that vanishes after construction is named when the item is read.
    os.remove(market_root / "bounding_box_train" / MARKET_TRAIN[0])
    with pytest.raises(UserError, match=f"image .*{MARKET_TRAIN[0]} is missing"):
        ds[0]


def test_csv_covering_no_image_says_so(market_root):
    with pytest.raises(UserError, match="covers none of the 6 images"):
        MarketDataset(market_root, "train", annotation_csv=market_root / "market-annotation-test.csv")
    os.makedirs(market_root / "empty")
    with pytest.raises(UserError, match="holds no image"):
        MarketDataset(market_root, "train", image_dir=market_root / "empty")
    with pytest.raises(UserError, match="does not exist"):
        MarketDataset(market_root, "train", image_dir=market_root / "absent")


def test_wrong_size_and_corrupt_images_are_named(market_root):
    folder = market_root / "bounding_box_train"
    Image.new("RGB", (128, 256)).save(folder / MARKET_TRAIN[0])
    (folder / MARKET_TRAIN[1]).write_bytes(b"not a jpeg")
    ds = MarketDataset(market_root, "train")
    with pytest.raises(UserError, match=f"{MARKET_TRAIN[0]} is 256x128, expected 128x64"):
        ds[0]
    with pytest.raises(UserError, match=f"cannot read image .*{MARKET_TRAIN[1]}"):
        ds[1]


def test_malformed_csv_row_reaches_the_dataset_user(market_root):
    path = market_root / "market-annotation-train.csv"
    with open(path, "a") as f:
        f.write("0002_c1s1_000001_01.jpg: [1, 2]: [3, 4]\n")
    with pytest.raises(UserError, match=f"{path}:8: keypoints_y must be a list of 18"):
        MarketDataset(market_root, "train")


def test_pair_errors(market_root):
    os.remove(market_root / "market-pairs-test.csv")
    with pytest.raises(UserError, match="test pairs are fixed"):
        MarketPairDataset(market_root, "test")
    write_pairs_csv(market_root / "p.csv", [(MARKET_TRAIN[0], "0099_c1s1_000001_01.jpg")])
    with pytest.raises(UserError, match="1 images named in .*p.csv are not in the dataset"):
        MarketPairDataset(market_root, "train", pairs_csv=market_root / "p.csv")
    with pytest.raises(UserError, match="covers none"):
        MarketPairDataset(market_root, "train", pairs_csv=market_root / "p.csv", missing="skip")


def test_the_dataset_is_named_in_the_config_not_guessed_from_the_size():
    # a folder of `dpg prepare` at 256x256 holds whole pedestrians: Market's ROI rule, not
    # DeepFashion's (the size used to decide)
    from dpg.config import ModelConfig, deepfashion, market, override
    from dpg.data.geometry import person_geometry
    from dpg.keypoints import body_rois, body_rois_deepfashion

    assert market().model.dataset == "market" and deepfashion().model.dataset == "deepfashion"
    assert ModelConfig(height=256, width=256).dataset == "deepfashion"  # checkpoints from before the field
    assert ModelConfig(height=256, width=256, dataset="market").style == "market"
    kp = np.zeros((18, 3), np.float32)
    kp[:14] = [(128, 20 + 15 * j, 1) for j in range(14)]
    for dataset, rule in (("market", body_rois), ("deepfashion", body_rois_deepfashion)):
        g = person_geometry(kp, 256, 256, 8, dataset)
        assert np.allclose(g["rois"].numpy(), rule(kp, 256, 256)[0])
    assert not np.allclose(body_rois(kp, 256, 256)[0], body_rois_deepfashion(kp, 256, 256)[0])
    with pytest.raises(ValueError, match="market, deepfashion"):
        override(market(), ["model.dataset=imagenet"])
