"""Image sources -> crops and the HR patches inside them -> split by source image -> HF datasets on disk.

Four kinds of source (config ``data.source``):
  ``debian-photos``    92 photographs of Debian packages (``data.photo_packages``) and of the installed wheels,
                       pinned by SHA-256 (``cddbench.photos``; the default)
  ``builtin``          natural photographs that ship inside installed wheels (offline, no download)
  ``folder:/path``     every image file in a local folder (one source image per file)
  ``hub:name[:split]`` a Hugging Face hub dataset with an ``image`` column (needs network)
The split is made per *source group* (a photograph, or with ``data.split_by: package`` a package), never per patch,
so no test scene is seen in training; or, with ``data.test_source`` (same forms), every ``data.source`` image trains
and every test-source image tests. Each image is tiled into crops (``data.crop_size``) that the degradation acts on
as wholes (``cddbench.degrade``), and the patches are cut inside the crops.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cddbench import photos

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class SourceImage:
    name: str   # unique id of the source image, used for the split and in every patch id
    group: str  # images of one scene (e.g. a stereo pair) share a group and always land in the same split
    path: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # origin and licence, for the report


def builtin_sources() -> list[SourceImage]:
    """Photographs shipped in scikit-image, scikit-learn and matplotlib wheels (no download needed).

    Synthetic or binary images (text, logos, phantoms, checkerboards) are left out on purpose:
    the benchmark is about natural-image statistics.
    """
    sk = photos.package_dir("skimage") / "data"
    skl = photos.package_dir("sklearn") / "datasets" / "images"
    mpl = photos.package_dir("matplotlib") / "mpl-data" / "sample_data"
    files = {
        "astronaut": sk / "astronaut.png", "chelsea": sk / "chelsea.png", "coffee": sk / "coffee.png",
        "rocket": sk / "rocket.jpg", "hubble_deep_field": sk / "hubble_deep_field.jpg",
        "retina": sk / "retina.jpg", "immunohistochemistry": sk / "ihc.png",
        "motorcycle_left": sk / "motorcycle_left.png", "motorcycle_right": sk / "motorcycle_right.png",
        "camera": sk / "camera.png", "brick": sk / "brick.png", "grass": sk / "grass.png",
        "gravel": sk / "gravel.png", "moon": sk / "moon.png", "coins": sk / "coins.png",
        "china": skl / "china.jpg", "flower": skl / "flower.jpg", "grace_hopper": mpl / "grace_hopper.jpg",
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data.source=builtin: images missing from the installed packages: {missing}")
    group = {"motorcycle_left": "motorcycle", "motorcycle_right": "motorcycle"}  # one stereo scene
    return [SourceImage(n, group.get(n, n), str(p)) for n, p in files.items()]


def folder_sources(folder: str) -> list[SourceImage]:
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"data.source=folder:{folder}: no such directory")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"data.source=folder:{folder}: the folder holds no files")
    out = []
    for p in files:
        name = str(p.relative_to(root))
        out.append(SourceImage(name, name, str(p)))
    return out


def load_rgb(path: str) -> tuple[np.ndarray, str | None]:
    """Read any image as uint8 RGB. Returns (array, conversion note or None).

    Raises ValueError naming the file when it is not a readable image.
    """
    try:
        if path.endswith(".edj"):  # an Enlightenment background archive (debian-photos' enlightenment-data)
            opened = photos.largest_jpeg(path)
        else:
            opened = Image.open(path)
        with opened as im:
            im.load()
            mode = im.mode
            if mode == "RGB":
                return np.asarray(im, dtype=np.uint8).copy(), None
            if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: rescale, don't clip
                a = np.asarray(im).astype(np.float64)
                a = a / max(a.max(), 1.0) * 255.0
                g = np.round(a).astype(np.uint8)
                return np.stack([g] * 3, -1), f"{mode}->RGB"
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(bg, im.convert("RGBA")).convert("RGB")
                return np.asarray(rgb, dtype=np.uint8).copy(), f"{mode}->RGB (alpha on white)"
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), f"{mode}->RGB"
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e


def crop_boxes(h: int, w: int, crop: int, size: int) -> list[tuple[int, int, int, int]]:
    """The crops (y, x, height, width) that tile an h x w image from its top-left corner: ``crop`` x ``crop`` tiles
    (Real-ESRGAN's ``crop_pad_size``), the last row and column taking what is left; every side a multiple of 4 (the SR
    factor) and at least one ``size`` px patch. An image smaller than ``crop`` is one crop, the whole image."""
    def spans(n: int) -> list[tuple[int, int]]:
        return [(s, min(crop, n - s) // 4 * 4) for s in range(0, n, crop) if min(crop, n - s) // 4 * 4 >= size]
    return [(y, x, ch, cw) for y, ch in spans(h) for x, cw in spans(w)]


def cut_patches(img: np.ndarray, size: int, stride: int) -> list[tuple[int, int, np.ndarray]]:
    h, w = img.shape[:2]
    out = []
    for y in range(0, h - size + 1, stride):
        for x in range(0, w - size + 1, stride):
            out.append((y, x, img[y : y + size, x : x + size]))
    return out


def split_groups(groups: list[str], test_groups: list[str] | None, test_fraction: float, seed: int,
                 strata: dict[str, str] | None = None) -> set[str]:
    """The set of test groups: the named ones; else a seeded ``test_fraction`` of them (at least one), stratified:
    the number of test groups is apportioned over the strata (``{group: stratum}``, e.g. each photo's package) by
    largest remainder, then drawn within each stratum, so every package is split in the same proportion."""
    uniq = sorted(set(groups))
    if test_groups:
        unknown = sorted(set(test_groups) - set(uniq))
        if unknown:
            raise ValueError(f"data.test_sources names sources that do not exist: {unknown}; known: {uniq}")
        chosen = set(test_groups)
    else:
        by_stratum: dict[str, list[str]] = {}
        for g in uniq:
            by_stratum.setdefault((strata or {}).get(g, ""), []).append(g)
        n_test = max(1, int(round(test_fraction * len(uniq))))
        quota = {k: test_fraction * len(v) for k, v in by_stratum.items()}
        count = {k: int(q) for k, q in quota.items()}
        for k in sorted(quota, key=lambda k: (-(quota[k] - count[k]), k))[: n_test - sum(count.values())]:
            count[k] += 1  # largest remainder; ties by stratum name
        rng = np.random.default_rng(seed)
        chosen = set()
        for k in sorted(by_stratum):
            if count[k]:
                chosen |= set(rng.choice(by_stratum[k], size=count[k], replace=False).tolist())
    if chosen == set(uniq):
        raise ValueError("the train/test split leaves no source image for training")
    return chosen


def build_patch_datasets(dcfg: dict, seed: int, out_dir: str) -> dict:
    """Tile each source image into crops, cut HR patches inside the crops, split by source image, save both splits.

    Writes ``{out_dir}/patches/{train,test}`` (one row per HR patch, naming its crop) and ``{out_dir}/crops/{train,
    test}`` (the HR crops the degradation acts on as wholes, as Real-ESRGAN degrades whole ``crop_pad_size`` crops
    before cutting aligned patches) and returns the data report (also ``{out_dir}/patches/report.json``): every
    file used, converted or skipped, and what each package's download cost.
    """
    import datasets

    source, test_source, size = dcfg["source"], dcfg.get("test_source"), dcfg["patch_size"]
    report = {"source": source, "test_source": test_source, "downsample": dcfg["downsample"],
              "split_by": dcfg["split_by"], "crop_size": dcfg["crop_size"], "downloads": {}, "used": [],
              "converted": [], "skipped": []}
    images = _load_source(source, dcfg, report)
    if test_source:  # a separate test set (e.g. DIV2K validation): every source image is training data
        tests = _load_source(test_source, dcfg, report, "data.test_source")
        clash = sorted({s.group for s, _ in images} & {s.group for s, _ in tests})
        if clash:
            raise ValueError(f"data.test_source={test_source!r} shares source images with data.source: {clash[:5]}")
        test_groups = {s.group for s, _ in tests}
        images += tests
    else:
        # photos split within each package (debian-photos; other sources: one stratum); packages: none
        strata = {s.group: s.meta.get("package", "") for s, _ in images} if dcfg["split_by"] == "photo" else {}
        test_groups = split_groups([s.group for s, _ in images], dcfg.get("test_sources"), dcfg["test_fraction"],
                                   seed, strata)
    rows: dict[str, list] = {"train": [], "test": []}
    crops: dict[str, list] = {"train": [], "test": []}
    for s, arr in images:
        split = "test" if s.group in test_groups else "train"
        stride = dcfg["train_stride"] if split == "train" else dcfg["test_stride"]
        boxes = crop_boxes(*arr.shape[:2], dcfg["crop_size"], size)
        patches = [(cy + y, cx + x, f"{s.name}#{cy},{cx}", p) for cy, cx, ch, cw in boxes
                   for y, x, p in cut_patches(arr[cy : cy + ch, cx : cx + cw], size, stride)]
        textured = [p for p in patches if p[3].astype(np.float32).std() >= dcfg["min_patch_std"]]
        n_textured = len(textured)
        cap = dcfg["max_patches_per_source"] if split == "train" else dcfg["max_test_patches_per_source"]
        if n_textured > cap:  # equal weight per image (and no large image dominating); seeded, counted in the report
            keep = np.random.default_rng([seed, stable_int(s.name)]).choice(n_textured, cap, replace=False)
            textured = [textured[i] for i in sorted(keep)]
        for y, x, crop, patch in textured:
            rows[split].append({"id": f"{s.name}@{y},{x}", "source": s.name, "group": s.group, "crop": crop,
                                "image": Image.fromarray(patch)})
        kept = {crop for _, _, crop, _ in textured}
        for cy, cx, ch, cw in boxes:
            if f"{s.name}#{cy},{cx}" in kept:
                crops[split].append({"crop": f"{s.name}#{cy},{cx}", "source": s.name,
                                     "image": Image.fromarray(arr[cy : cy + ch, cx : cx + cw])})
        report["used"].append({"file": s.path, "source": s.name, "split": split, "size": list(arr.shape[1::-1]),
                               "crops": len(kept), "patches": len(textured),
                               "flat_patches_skipped": len(patches) - n_textured,
                               "over_cap_patches_skipped": n_textured - len(textured), **s.meta})
    patch_features = datasets.Features({"id": datasets.Value("string"), "source": datasets.Value("string"),
                                        "group": datasets.Value("string"), "crop": datasets.Value("string"),
                                        "image": datasets.Image()})
    crop_features = datasets.Features({"crop": datasets.Value("string"), "source": datasets.Value("string"),
                                       "image": datasets.Image()})
    for split in rows:
        if not rows[split]:
            raise ValueError(f"the {split} split has no patches; check data.test_sources / data.min_patch_std")
        datasets.Dataset.from_list(rows[split], features=patch_features).save_to_disk(
            os.path.join(out_dir, "patches", split))
        datasets.Dataset.from_list(crops[split], features=crop_features).save_to_disk(
            os.path.join(out_dir, "crops", split))
        report[f"{split}_patches"] = len(rows[split])
        report[f"{split}_crops"] = len(crops[split])
        report[f"{split}_sources"] = sorted({r["source"] for r in rows[split]})
    with open(os.path.join(out_dir, "patches", "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


def debian_photo_sources(download_dir: str | None, packages: list[str], split_by: str = "photo",
                         costs: dict | None = None) -> list[SourceImage]:
    """The photographs of ``cddbench.photos`` in ``packages`` (Debian packages downloaded once into the cache
    ``photos.cache_dir(download_dir)``, each hash checked). Each photo is its own group (``split_by: photo``; its
    package is the stratum of the split) or each package is one (``split_by: package``: whole packages held out)."""
    out = []
    folder = photos.cache_dir(download_dir)
    for p, path in photos.obtain(folder, packages, costs):
        meta = {"package": p.package, "version": photos.package_version(folder, p.package),
                "path_in_package": p.path, "sha256": p.sha256, "licence": p.licence, "author": p.author,
                "native_resolution": p.native}
        out.append(SourceImage(p.name, p.name if split_by == "photo" else p.package, path, meta))
    return out


def _load_source(source: str, dcfg: dict, report: dict, key: str = "data.source") -> list[tuple[SourceImage, np.ndarray]]:
    """The RGB images of one ``data.source``-style spec, area-downsampled by ``data.downsample``, at least one patch
    in size; the rest go to the report."""
    size, factor = dcfg["patch_size"], dcfg["downsample"]
    if source == "builtin":
        sources = builtin_sources()
    elif source == "debian-photos":
        sources = debian_photo_sources(dcfg["download_dir"], dcfg["photo_packages"], dcfg["split_by"],
                                       report["downloads"])
    elif source.startswith("folder:"):
        sources = folder_sources(source[len("folder:") :])
    elif source.startswith("hub:"):
        sources = None
    else:
        raise ValueError(f"{key}={source!r}: expected 'debian-photos', 'builtin', 'folder:/path' or 'hub:name[:split]'")
    images: list[tuple[SourceImage, np.ndarray]] = []
    if sources is None:
        images = _hub_images(source[len("hub:") :])
        if factor > 1:
            images = [(s, np.asarray(Image.fromarray(a).reduce(factor))) for s, a in images]
    else:
        for s in sources:
            try:
                arr, note = load_rgb(s.path)
            except ValueError as e:
                report["skipped"].append({"file": s.path, "reason": str(e)})
                continue
            if note:
                report["converted"].append({"file": s.path, "conversion": note})
            if factor > 1 and not s.meta.get("native_resolution"):  # area average (PIL's box reduce): large
                # photos' 32 px patches then carry detail; camera-size photos (cddbench.photos) stay native
                arr = np.asarray(Image.fromarray(arr).reduce(factor))
            images.append((s, arr))
    for s, a in images:
        if min(a.shape[:2]) < size:
            report["skipped"].append({"file": s.path, "reason": f"{a.shape[1]}x{a.shape[0]} is smaller than one {size}px patch"})
    images = [(s, a) for s, a in images if min(a.shape[:2]) >= size]
    if not images:
        raise ValueError(f"{key}={source!r}: no usable image (see skipped: {report['skipped'][:3]})")
    return images


def _hub_images(spec: str) -> list[tuple[SourceImage, np.ndarray]]:
    import datasets

    name, _, split = spec.partition(":")
    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as e:  # offline: ConnectionError / OfflineModeIsEnabled / FileNotFoundError by version
        raise RuntimeError(
            f"data.source=hub:{spec}: could not load the hub dataset {name!r} ({type(e).__name__}: {e}). "
            "This needs network access (and HF_HUB_OFFLINE unset); offline, use data.source=builtin or folder:/path."
        ) from e
    if "image" not in ds.column_names:
        raise ValueError(f"data.source=hub:{spec}: the dataset has no 'image' column (columns: {ds.column_names})")
    out = []
    for i, row in enumerate(ds):
        arr = np.asarray(row["image"].convert("RGB"), dtype=np.uint8)
        ident = f"{name}:{split or 'train'}#{i}"  # the split in the name: train and validation never collide
        out.append((SourceImage(ident, ident, ident), arr))
    return out


def stable_int(text: str) -> int:
    """A platform-independent 63-bit integer from a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def load_split(path: str):
    import datasets

    return datasets.load_from_disk(path)


def to_tensor(images) -> "torch.Tensor":
    """PIL/uint8 images -> float tensor B x 3 x H x W in [-1, 1]."""
    import torch

    a = np.stack([np.asarray(im.convert("RGB") if hasattr(im, "convert") else im, dtype=np.uint8) for im in images])
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x) -> np.ndarray:
    """float tensor B x 3 x H x W in [-1, 1] -> uint8 B x H x W x 3 (round half to even, clamped)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
