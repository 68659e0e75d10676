"""``data.source: debian-photos``: photographs that Debian packages and the installed wheels ship, offline-capable.

No Python registry package ships a diverse photo set, but Debian packages do. Six wallpaper packages hold 62 colour
photographs (measured and licence-checked; the renders, drawings and abstract images in the same packages are left
out); they are large (1,280-6,028 px), so ``data.downsample`` area-averages them. Five more "packages" hold 30
camera-size photos, used at native resolution: 17 of ``opencv-doc``'s sample data, 5 of ``palapeli-data``'s and 8
inside the scikit-image, scikit-learn and matplotlib wheels. ``data.photo_packages`` picks the packages (the default:
all eleven, 92 photos). Each photo is pinned by the SHA-256 of its file (for ``enlightenment-data``, of the ``.edj``
archive the JPEG is read from), so the benchmark's data cannot change silently: a changed or missing file is an error
naming it. The Debian packages are fetched with ``apt-get download`` (no root needed when the package index is
current) and unpacked with ``dpkg-deb -x`` into ``data.download_dir`` (default: a cache outside ``results/``, shared
by runs and tests); ``.deb`` files already there are reused. Each photo is its own split group; its package is the
stratum (``cddbench.data.split_groups``), or with ``data.split_by: package`` the group.

What each package's selection leaves out (the table, ``photos.csv``, holds what is kept; grey one-channel photos are
left out everywhere: the test set is colour):
- ``enlightenment-data``: 14 of 18 backgrounds (Dunes, Sunset-Hills, Flat-Fan and Paper-Flower are drawings); each is
  an EET archive (.edj) of 13 JPEG sizes, the hash pins the archive and the largest JPEG inside is the photo.
- ``lxqt-themes``: 11 photographs; the rest of its wallpaper folder is logos and renders.
- ``opencv-doc``'s sample data: natural colour photos only (drawings, renders, a painting, grey photos, synthetic
  targets and the second image of stereo/flow pairs are left out); its debian/copyright covers them only under
  "Files: *" and names no photographer. Camera-size (300-1,282 px): training photos only (the test package is a
  wallpaper one).
- ``palapeli-data``: its puzzle photographs (1,024-1,620 px, native); licence and author from each ``.desktop``.
- The wheels' colour photographs: licences from their own docstrings / READMEs.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Photo:
    name: str
    package: str
    path: str     # inside the package
    sha256: str
    licence: str
    author: str
    native: bool = False  # True: a camera-size photo used at native resolution; False: a wallpaper (1,280-6,028 px
                          # on the long side), area-averaged by data.downsample so that 32 px patches carry detail


TABLE = Path(__file__).with_name("photos.csv")  # one row per photo, in the patch tables' order


def _photos() -> list[Photo]:
    """The photo table (``photos.csv``): name, package, path (absolute for a Debian package, inside the module's
    folder for a wheel), SHA-256, licence, author, native (yes: camera-size, used at native resolution)."""
    with open(TABLE, newline="", encoding="utf-8") as f:
        return [Photo(r["name"], r["package"], r["path"], r["sha256"], r["licence"], r["author"],
                      native=r["native"] == "yes") for r in csv.DictReader(f)]


PHOTOS = _photos()
PACKAGES = list(dict.fromkeys(p.package for p in PHOTOS))  # in table order: the order of the patch tables
WHEELS = {"scikit-image": "skimage", "scikit-learn": "sklearn", "matplotlib": "matplotlib"}  # package: module


def package_dir(module: str) -> Path:
    """The folder of an installed Python package (the wheels' photographs are read from there, no download)."""
    import importlib

    return Path(importlib.import_module(module).__file__).parent


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir(download_dir: str | None) -> str:
    """``data.download_dir``, or (null) the user cache: ``$XDG_CACHE_HOME/cddbench/packages`` (``~/.cache/...``), so
    a 400 MB package is downloaded once per machine, not once per results folder."""
    if download_dir:
        return download_dir
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cddbench", "packages")


def _how_to_get(package: str, folder: str, why: str) -> RuntimeError:
    return RuntimeError(
        f"data.source=debian-photos: could not obtain the Debian package {package!r} ({why}). Either make the package "
        f"index current (as root: 'apt-get update'), or put {package}_*.deb (any mirror; 'apt-get download "
        f"{package}' on a machine that has it) into data.download_dir ({folder}), or set data.source: builtin "
        "(the photographs inside the installed Python packages; a smaller, less diverse set).")


def fetch_package(package: str, folder: str) -> tuple[str, dict]:
    """The unpacked tree of ``package`` under ``folder`` (downloaded with apt-get and unpacked with dpkg-deb once),
    and what it cost: ``{deb, deb_bytes, download_s, unpack_s}`` (0 s when the cache already held it)."""
    os.makedirs(folder, exist_ok=True)
    cost = {"download_s": 0.0, "unpack_s": 0.0}
    debs = sorted(glob.glob(os.path.join(folder, f"{package}_*.deb")))
    if not debs:
        if not shutil.which("apt-get"):
            raise _how_to_get(package, folder, "apt-get is not on PATH")
        t0 = time.perf_counter()
        run = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
        cost["download_s"] = round(time.perf_counter() - t0, 2)
        debs = sorted(glob.glob(os.path.join(folder, f"{package}_*.deb")))
        if run.returncode or not debs:
            raise _how_to_get(package, folder, f"apt-get download failed: {run.stderr.strip()[-300:]}")
    tree = os.path.join(folder, package)
    if not os.path.isdir(tree):
        if not shutil.which("dpkg-deb"):
            raise _how_to_get(package, folder, "dpkg-deb is not on PATH")
        partial = tree + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        t0 = time.perf_counter()
        run = subprocess.run(["dpkg-deb", "-x", debs[-1], partial], capture_output=True, text=True)
        if run.returncode:
            raise _how_to_get(package, folder, f"dpkg-deb -x {os.path.basename(debs[-1])} failed: {run.stderr.strip()}")
        os.replace(partial, tree)
        cost["unpack_s"] = round(time.perf_counter() - t0, 2)
    return tree, {"deb": os.path.basename(debs[-1]), "deb_bytes": os.path.getsize(debs[-1]), **cost}


def largest_jpeg(archive: str):
    """The largest JPEG inside an EET archive (``.edj``, Enlightenment's format: one photo stored at 13 sizes), opened
    with PIL. Hand-written because no Python package reads EET; each JPEG is stored whole, so every start-of-image
    marker is a candidate and PIL reads its size from the header (no decode); the largest is the photo."""
    from PIL import Image

    blob = open(archive, "rb").read()
    best, best_area = None, 0
    for m in re.finditer(rb"\xff\xd8\xff", blob):
        try:
            with Image.open(io.BytesIO(blob[m.start():])) as im:
                area = im.size[0] * im.size[1] if im.format == "JPEG" else 0
        except (OSError, SyntaxError, ValueError):  # a marker that starts no readable header
            continue
        if area > best_area:
            best, best_area = m.start(), area
    if best is None:
        raise ValueError(f"{archive}: no JPEG inside (not an Enlightenment background archive?)")
    return Image.open(io.BytesIO(blob[best:]))


def package_version(folder: str, package: str) -> str:
    if package in WHEELS:
        return importlib.metadata.version(package)
    debs = sorted(glob.glob(os.path.join(folder, f"{package}_*.deb")))
    return os.path.basename(debs[-1])[len(package) + 1 : -len("_all.deb")].replace("%3a", ":") if debs else "?"


def selected(packages: list[str]) -> list[Photo]:
    """The listed photos of ``packages`` (``data.photo_packages``), in table order whatever the order asked: the
    order decides the patch tables, so the same selection always gives the same patches."""
    unknown = sorted(set(packages) - set(PACKAGES))
    if unknown:
        raise ValueError(f"invalid config at data.photo_packages: unknown packages {unknown}; known: {PACKAGES}")
    return [p for p in PHOTOS if p.package in packages]


def obtain(folder: str, packages: list[str], costs: dict | None = None) -> list[tuple[Photo, str]]:
    """Every listed photo of ``packages`` as (photo, image file), in table order, each checked against its SHA-256.
    A missing or altered file is an error that names it. ``costs`` (if given) receives each package's download
    record (``fetch_package``)."""
    out = []
    for package in dict.fromkeys(p.package for p in selected(packages)):
        if package in WHEELS:
            tree = str(package_dir(WHEELS[package]))
        else:
            tree, cost = fetch_package(package, folder)
            if costs is not None:
                costs[package] = cost
        for p in (p for p in PHOTOS if p.package == package):
            path = os.path.join(tree, p.path.lstrip("/"))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"data.source=debian-photos: photo {p.name!r} is missing from {package} "
                                        f"({p.path}); the package's content changed, or {tree} is incomplete")
            got = sha256(path)
            if got != p.sha256:
                raise ValueError(f"data.source=debian-photos: photo {p.name!r} ({path}) has SHA-256 {got}, expected "
                                 f"{p.sha256}: the file changed (another package version?), so results would not be "
                                 "comparable; delete the folder to re-download, or pin the new hash knowingly")
            out.append((p, path))
    return out
