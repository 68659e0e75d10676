import json

import numpy as np
import pytest
from PIL import Image

from cddbench import data, degrade

SMALL = dict(source="builtin", test_source=None, download_dir="unused", downsample=1, crop_size=400, patch_size=32,
             train_stride=64, test_stride=64, split_by="photo", test_sources=["astronaut", "coffee"], test_fraction=0.2,
             min_patch_std=4.0, max_patches_per_source=20, max_test_patches_per_source=20)


@pytest.fixture(scope="module")
def builtin_split(tmp_path_factory):
    out = tmp_path_factory.mktemp("patches")
    report = data.build_patch_datasets(SMALL, 0, str(out))
    return out, report


def test_split_is_by_source_image(builtin_split):
    out, report = builtin_split
    train, test = data.load_split(str(out / "patches" / "train")), data.load_split(str(out / "patches" / "test"))
    assert set(train["source"]).isdisjoint(test["source"])
    assert set(train["group"]).isdisjoint(test["group"])
    assert set(test["source"]) == {"astronaut", "coffee"}
    assert len(set(train["id"])) == len(train) and len(set(test["id"])) == len(test)
    assert report["train_patches"] == len(train) and report["test_patches"] == len(test)


def test_stereo_pair_stays_in_one_split():
    groups = [s.group for s in data.builtin_sources()]
    for seed in range(20):
        test = data.split_groups(groups, None, 0.3, seed)
        names = {s.name for s in data.builtin_sources() if s.group in test}
        assert ("motorcycle_left" in names) == ("motorcycle_right" in names)


def test_seeded_fraction_split_is_reproducible_and_nonempty():
    groups = [s.group for s in data.builtin_sources()]
    a, b = data.split_groups(groups, None, 0.2, 3), data.split_groups(groups, None, 0.2, 3)
    assert a == b and 0 < len(a) < len(set(groups))


def test_stratified_split_apportions_the_test_groups_over_strata_by_largest_remainder():
    strata = {f"{k}{i}": k for k, n in (("a", 14), ("b", 12), ("c", 5), ("d", 1)) for i in range(n)}
    test = data.split_groups(list(strata), None, 0.45, 0, strata)
    per = {k: sum(strata[g] == k for g in test) for k in "abcd"}
    assert sum(per.values()) == round(0.45 * 32) == 14  # quotas 6.3, 5.4, 2.25, 0.45: floors 13, then d (0.45) +1
    assert per == {"a": 6, "b": 5, "c": 2, "d": 1}
    assert test == data.split_groups(list(strata)[::-1], None, 0.45, 0, strata)  # order-free, seeded
    assert test != data.split_groups(list(strata), None, 0.45, 1, strata)


def test_crops_tile_the_image_in_whole_factors_of_4_and_hold_at_least_one_patch():
    assert data.crop_boxes(540, 960, 400, 32) == [(0, 0, 400, 400), (0, 400, 400, 400), (0, 800, 400, 160),
                                                  (400, 0, 140, 400), (400, 400, 140, 400), (400, 800, 140, 160)]
    assert data.crop_boxes(413, 356, 400, 32) == [(0, 0, 400, 356)]  # the 13 px row left over holds no patch
    assert data.crop_boxes(300, 250, 400, 32) == [(0, 0, 300, 248)]  # smaller than a crop: the whole image


def test_patches_lie_inside_their_crops_and_the_pairs_are_cut_from_the_whole_degraded_crop(builtin_split, tmp_path):
    """A patch's LR is its crop's LR (the crop degraded whole, seeded by the crop's id) at the patch's place / 4."""
    out, _ = builtin_split
    crops = {r["crop"]: np.asarray(r["image"]) for r in data.load_split(str(out / "crops" / "test"))}
    patches = data.load_split(str(out / "patches" / "test"))
    n = degrade.build_pairs(str(out / "patches" / "test"), str(out / "crops" / "test"), str(tmp_path / "pairs"), 7,
                            SIMPLE)
    pairs = data.load_split(str(tmp_path / "pairs"))
    assert n == len(pairs) == len(patches) and set(pairs["crop"]) == set(crops)
    for row in pairs:
        (cy, cx), (y, x) = (map(int, row["crop"].rsplit("#")[1].split(",")),
                            map(int, row["id"].rsplit("@")[1].split(",")))
        assert (y - cy) % 4 == 0 and (x - cx) % 4 == 0  # aligned
        hr_crop = crops[row["crop"]]
        assert np.array_equal(np.asarray(row["hr"]), hr_crop[y - cy : y - cy + 32, x - cx : x - cx + 32])
        lr_crop, params = degrade.degrade(hr_crop, 7, row["crop"], SIMPLE)  # the crop's own seeded draw
        assert np.array_equal(np.asarray(row["lr"]), lr_crop[(y - cy) // 4 : (y - cy) // 4 + 8,
                                                              (x - cx) // 4 : (x - cx) // 4 + 8])
        assert json.loads(row["degradation"]) == params
    assert len({r["degradation"] for r in pairs}) == len(crops) > 1  # one draw per crop, not per patch


def test_unknown_test_source_is_named():
    with pytest.raises(ValueError, match="nonexistent"):
        data.split_groups(["a", "b"], ["nonexistent"], 0.2, 0)


def test_folder_source_converts_and_reports(tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(src / f"rgb{i}.png")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(src / "gray.png")
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / "tiny.png")
    (src / "notes.txt").write_text("not an image")
    cfg = dict(SMALL, source=f"folder:{src}", test_sources=[], test_fraction=0.25, train_stride=32, test_stride=32)
    report = data.build_patch_datasets(cfg, 0, str(tmp_path / "out"))
    skipped = {r["file"].split("/")[-1]: r["reason"] for r in report["skipped"]}
    assert "notes.txt" in skipped and "not a readable image" in skipped["notes.txt"]
    assert "tiny.png" in skipped and "smaller than one 32px patch" in skipped["tiny.png"]
    assert [c["file"].split("/")[-1] for c in report["converted"]] == ["gray.png"]
    assert report["train_patches"] + report["test_patches"] == 4 * 4


def test_every_kind_of_bad_image_is_converted_or_skipped_by_name_never_dropped(tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(src / "ok.png")
    Image.fromarray(np.dstack([rgb, np.full((64, 64), 128, np.uint8)]), "RGBA").save(src / "rgba.png")
    Image.fromarray(rng.integers(0, 65536, (64, 64), dtype=np.uint16)).save(src / "deep16.png")  # 16-bit
    Image.fromarray(rgb).convert("P").save(src / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray(rgb).save(src / "whole.jpg")
    (src / "truncated.jpg").write_bytes((src / "whole.jpg").read_bytes()[:300])
    (src / "whole.jpg").unlink()
    (src / "empty.png").write_bytes(b"")
    (src / "fake.png").write_bytes(b"not a png at all")
    Image.fromarray(rgb[:8, :8]).save(src / "tiny.png")
    cfg = dict(SMALL, source=f"folder:{src}", test_sources=["ok.png"], train_stride=32, test_stride=32)
    report = data.build_patch_datasets(cfg, 0, str(tmp_path / "out"))

    name = lambda r: r["file"].split("/")[-1]  # noqa: E731
    used = {r["source"] for r in report["used"]}
    skipped = {name(r): r["reason"] for r in report["skipped"]}
    converted = {name(r): r["conversion"] for r in report["converted"]}
    assert used | set(skipped) == {p.name for p in src.iterdir()}  # every file accounted for
    assert used == {"ok.png", "rgba.png", "deep16.png", "palette.png", "cmyk.jpg"}
    assert converted == {"rgba.png": "RGBA->RGB (alpha on white)", "deep16.png": "I;16->RGB", "palette.png": "P->RGB",
                         "cmyk.jpg": "CMYK->RGB"}
    for bad in ("truncated.jpg", "empty.png", "fake.png"):
        assert "not a readable image" in skipped[bad], skipped[bad]
    assert "smaller than one 32px patch" in skipped["tiny.png"]
    patches = data.load_split(str(tmp_path / "out" / "patches" / "train"))
    assert {np.asarray(im).shape for im in patches["image"]} == {(32, 32, 3)}  # all 8-bit RGB now


def test_separate_test_source_tests_every_image_of_it(tmp_path):
    rng = np.random.default_rng(0)
    for folder, names in (("train", ["0001", "0002", "0003"]), ("valid", ["0801", "0802"])):
        (tmp_path / folder).mkdir()
        for n in names:
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / folder / f"{n}.png")
    cfg = dict(SMALL, source=f"folder:{tmp_path / 'train'}", test_source=f"folder:{tmp_path / 'valid'}",
               test_sources=["ignored-with-a-test-source"], train_stride=32, test_stride=32)
    report = data.build_patch_datasets(cfg, 0, str(tmp_path / "out"))
    assert report["train_sources"] == ["0001.png", "0002.png", "0003.png"]
    assert report["test_sources"] == ["0801.png", "0802.png"] and report["test_patches"] == 2 * 4
    cfg["test_source"] = cfg["source"]  # the same images on both sides: refused, named
    with pytest.raises(ValueError, match="data.test_source=.*shares source images.*0001.png"):
        data.build_patch_datasets(cfg, 0, str(tmp_path / "out2"))


def test_hub_source_fails_offline_with_clear_message(tmp_path):
    cfg = dict(SMALL, source="hub:some-user/some-sr-dataset")
    with pytest.raises(RuntimeError, match="hub:some-user/some-sr-dataset.*network"):
        data.build_patch_datasets(cfg, 0, str(tmp_path))


SIMPLE = dict(method="simple", simple=dict(blur_sigma=[0.2, 3.0], noise_sigma=[1.0, 30.0], jpeg_quality=[30, 95]))


def test_degradation_is_seeded_per_image():
    hr = np.asarray(Image.open(data.builtin_sources()[0].path).convert("RGB"))[:32, :32]
    a, pa = degrade.degrade(hr, 0, "img@0,0", SIMPLE)
    b, pb = degrade.degrade(hr, 0, "img@0,0", SIMPLE)
    c, _ = degrade.degrade(hr, 0, "img@0,32", SIMPLE)
    d, _ = degrade.degrade(hr, 1, "img@0,0", SIMPLE)
    assert a.shape == (8, 8, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes() and pa == pb
    assert a.tobytes() != c.tobytes() and a.tobytes() != d.tobytes()


def test_degradation_rejects_sizes_not_divisible_by_4():
    with pytest.raises(ValueError, match="not divisible by 4"):
        degrade.degrade(np.zeros((30, 32, 3), np.uint8), 0, "x", SIMPLE)
