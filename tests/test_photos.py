"""data.source: debian-photos — the pinned photo list, hash checks, licences, the split by package."""
import copy
import hashlib
import importlib.metadata
import os
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image

from cddbench import config, data, photos

SMALL = dict(source="debian-photos", test_source=None, photo_packages=["pkg-test", "pkg-train"], downsample=2,
             crop_size=400, patch_size=32, train_stride=32, test_stride=32, split_by="package", test_sources=["pkg-test"],
             test_fraction=0.2, min_patch_std=4.0, max_patches_per_source=10, max_test_patches_per_source=5)


def test_manifest_pins_every_photo_with_licence_and_hash():
    names = [p.name for p in photos.PHOTOS]
    assert len(names) == len(set(names)) == 37 + 14 + 11 + 17 + 5 + 8
    assert photos.PACKAGES == ["lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds",
                               "plasma-workspace-wallpapers", "enlightenment-data", "lxqt-themes", "opencv-doc",
                               "palapeli-data", "scikit-image", "scikit-learn",
                               "matplotlib"]  # table order = patch-table order, which the shipped teacher trained in
    for p in photos.PHOTOS:
        assert len(p.sha256) == 64 and int(p.sha256, 16) >= 0
        assert p.licence and p.author
        assert p.path.startswith("/usr/share/") != (p.package in photos.WHEELS)
        assert p.native == (p.package in photos.WHEELS or p.package in ("opencv-doc", "palapeli-data"))  # camera-size


def test_the_default_split_is_by_photograph_stratified_by_package(default):
    """>= 40 test and >= 45 training photographs, every package split in proportion (largest remainder), the same
    split again for the same seed, and the teacher's record (provenance.training_photos) is its complement."""
    from cddbench import provenance

    d = default["data"]
    chosen = photos.selected(d["photo_packages"])
    strata = {p.name: p.package for p in chosen}
    test = data.split_groups(list(strata), d["test_sources"], d["test_fraction"], default["seed"], strata)
    assert len(test) >= 40 and len(chosen) - len(test) >= 45
    for package in photos.PACKAGES:
        n = sum(1 for p in chosen if p.package == package)
        assert abs(sum(strata[g] == package for g in test) - d["test_fraction"] * n) < 1  # floor or ceil of its share
    assert test == data.split_groups(list(strata), d["test_sources"], d["test_fraction"], default["seed"], strata)
    assert set(provenance.training_photos(default)) == set(strata) - test


@pytest.fixture
def default(repo):
    with open(f"{repo}/config.yaml") as f:
        return yaml.safe_load(f)


def test_photo_packages_select_in_table_order_and_unknown_ones_are_named(default):
    wallpapers = default["data"]["photo_packages"]
    assert len(photos.selected(wallpapers)) == 92  # the default: every package
    assert photos.selected(wallpapers[::-1]) == photos.selected(wallpapers)  # order asked does not change patches
    assert [p.name for p in photos.selected(["matplotlib", "opencv-doc"])][-1] == "grace_hopper"  # table order
    cfg = copy.deepcopy(default)
    cfg["data"]["photo_packages"] = wallpapers + ["ubuntu-wallpapers"]
    with pytest.raises(ValueError, match=r"invalid config at data.photo_packages: unknown packages "
                                         r"\['ubuntu-wallpapers'\]; known: \['lomiri-wallpapers-16.04'"):
        config.validate(cfg)
    cfg["data"]["photo_packages"] = ["mate-backgrounds", "plasma-workspace-wallpapers"]
    cfg["data"]["test_sources"] = ["lomiri-wallpapers-16.04"]
    with pytest.raises(ValueError, match=r"invalid config at data.test_sources: \['lomiri-wallpapers-16.04'\] "
                                         r"are not photos of data.photo_packages \(data.split_by: photo\)"):
        config.validate(cfg)
    cfg["data"]["split_by"] = "package"
    with pytest.raises(ValueError, match=r"\['lomiri-wallpapers-16.04'\] are not packages of data.photo_packages"):
        config.validate(cfg)


def test_the_wheels_photos_are_found_and_hash_checked_without_a_download(tmp_path):
    got = photos.obtain(str(tmp_path), list(photos.WHEELS))
    assert [p.name for p, _ in got] == ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "china",
                                        "flower", "grace_hopper"]
    assert all(photos.sha256(path) == p.sha256 for p, path in got)
    assert not os.listdir(tmp_path)  # nothing downloaded
    assert photos.package_version(str(tmp_path), "scikit-image") == importlib.metadata.version("scikit-image")


def _fake_packages(root, monkeypatch, n_per_package=3):
    """Two fake 'packages' already unpacked in the download folder, with the manifest pointed at their photos."""
    rng = np.random.default_rng(0)
    entries = []
    for package in ("pkg-train", "pkg-test"):
        (root / f"{package}_1.0_all.deb").write_bytes(b"")  # reused as is: no download
        for i in range(n_per_package):
            rel = f"usr/share/backgrounds/{package}-{i}.png"
            path = root / package / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            entries.append(photos.Photo(f"{package}-{i}", package, "/" + rel, sha, "CC0-1.0", "someone",
                                        native=package == "pkg-train" and i == 2))
    monkeypatch.setattr(photos, "PHOTOS", entries)
    monkeypatch.setattr(photos, "PACKAGES", ["pkg-test", "pkg-train"])
    return entries


def test_split_by_package_licences_recorded_and_deterministic(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch)
    cfg = dict(SMALL, download_dir=str(tmp_path))
    a = data.build_patch_datasets(cfg, 0, str(tmp_path / "a"))
    b = data.build_patch_datasets(cfg, 0, str(tmp_path / "b"))
    assert a["test_sources"] == ["pkg-test-0", "pkg-test-1", "pkg-test-2"]
    assert a["train_sources"] == ["pkg-train-0", "pkg-train-1", "pkg-train-2"]
    load = lambda run, split: data.load_split(str(tmp_path / run / "patches" / split))  # noqa: E731
    train, test = load("a", "train"), load("a", "test")
    assert set(train["group"]) == {"pkg-train"} and set(test["group"]) == {"pkg-test"}  # no test photo trains
    assert list(train["id"]) == list(load("b", "train")["id"])  # same patches again
    # 128 px / 2 = 64 px: 4 patches each; the native 128 px photo gives 16 (cap 10); caps 10 / 5
    assert a["train_patches"] == 2 * 4 + 10 and a["test_patches"] == 3 * 4
    for used in a["used"]:  # every photo's origin, licence and hash in report.json
        assert used["licence"] == "CC0-1.0" and used["author"] == "someone" and len(used["sha256"]) == 64
        assert used["package"] in ("pkg-train", "pkg-test") and used["version"] == "1.0"
        native = used["source"] == "pkg-train-2"
        assert used["native_resolution"] == native
        assert used["size"] == ([128, 128] if native else [64, 64])  # area-downsampled by data.downsample, unless native


def test_a_changed_photo_is_an_error_that_names_it(tmp_path, monkeypatch):
    entries = _fake_packages(tmp_path, monkeypatch)
    victim = tmp_path / "pkg-train" / entries[1].path.lstrip("/")
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(victim)
    with pytest.raises(ValueError, match="photo 'pkg-train-1'.*has SHA-256.*expected"):
        data.build_patch_datasets(dict(SMALL, download_dir=str(tmp_path)), 0, str(tmp_path / "out"))


def test_a_missing_photo_is_an_error_that_names_it(tmp_path, monkeypatch):
    entries = _fake_packages(tmp_path, monkeypatch)
    os.remove(tmp_path / "pkg-test" / entries[4].path.lstrip("/"))
    with pytest.raises(FileNotFoundError, match="photo 'pkg-test-1' is missing from pkg-test"):
        data.build_patch_datasets(dict(SMALL, download_dir=str(tmp_path)), 0, str(tmp_path / "out"))


def test_no_apt_get_says_how_to_get_the_packages_and_names_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get is not on PATH.*apt-get update.*data.source: builtin"):
        photos.fetch_package("mate-backgrounds", str(tmp_path))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get") or not shutil.which("dpkg-deb"),
                    reason="needs root with apt-get and dpkg-deb (CI has them)")
@pytest.mark.parametrize("package, n_photos", [("lomiri-wallpapers-20.04", 1), ("opencv-doc", 17), ("lxqt-themes", 11),
                                               ("palapeli-data", 5), ("enlightenment-data", 14)])
def test_really_downloads_and_unpacks_a_package(tmp_path, package, n_photos):
    """Packages through apt-get download and dpkg-deb, each listed photo's hash checked and the photo read. The
    401 MB enlightenment-data goes to the shared cache (photos.cache_dir: downloaded once per machine, as a run
    does); its photos are the largest JPEG inside each .edj archive, 3840 px wide."""
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    if "Candidate:" not in policy or "(none)" in policy:  # a fresh machine has no package index yet
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
    folder = photos.cache_dir(None) if package == "enlightenment-data" else str(tmp_path)
    costs = {}
    got = photos.obtain(folder, [package], costs)
    assert [p.name for p, _ in got] == [p.name for p in photos.PHOTOS if p.package == package]
    assert len(got) == n_photos and all(photos.sha256(path) == p.sha256 for p, path in got)
    assert photos.package_version(folder, package) != "?"
    assert costs[package]["deb_bytes"] > 1e6 and costs[package]["deb"].startswith(package + "_")
    for _, path in got:
        rgb, _ = data.load_rgb(path)
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 256  # opencv-doc: 356 px and up
        if package == "enlightenment-data":
            assert rgb.shape[1] >= 3838


def test_an_edj_archive_gives_its_largest_jpeg_and_one_without_a_jpeg_is_named(tmp_path):
    import io

    def jpeg(w, h, value):
        buf = io.BytesIO()
        Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format="JPEG", quality=95)
        return buf.getvalue()

    archive = tmp_path / "Fake.edj"  # EET-like: a header, JPEGs of several sizes, a stray marker, other data
    archive.write_bytes(b"\x1e\xe7\x0a\x00header" + jpeg(64, 36, 10) + b"\xff\xd8\xffjunk" + jpeg(256, 144, 200)
                        + jpeg(128, 72, 90) + b"trailer")
    rgb, _ = data.load_rgb(str(archive))
    assert rgb.shape == (144, 256, 3) and abs(int(rgb.mean()) - 200) <= 2
    (tmp_path / "Empty.edj").write_bytes(b"no pictures here")
    with pytest.raises(ValueError, match="Empty.edj.*no JPEG inside"):
        data.load_rgb(str(tmp_path / "Empty.edj"))
