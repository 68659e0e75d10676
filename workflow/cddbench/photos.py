"""``data.source: debian-photos``: photographs that Debian packages and the installed wheels ship, offline-capable.

No Python registry package ships a diverse photo set, but Debian packages do. Four wallpaper packages hold 37
colour photographs by some 20 photographers (measured and licence-checked; the renders, drawings and abstract
images in the same packages are left out); they are large, so ``data.downsample`` area-averages them. Four more
"packages" hold 25 camera-size photos, used at native resolution: 17 of ``opencv-doc``'s sample data and 8 inside
the scikit-image, scikit-learn and matplotlib wheels. ``data.photo_packages`` picks the packages; the default is the
four wallpaper packages, the set the shipped teacher was trained on (adding the other four is the 48-training-photo
route of docs/experiments.md, which needs a teacher trained on them). Each photo is pinned by the SHA-256 of its
file, so the benchmark's data cannot change silently: a changed or missing file is an error naming it. The Debian
packages are fetched with ``apt-get download`` (no root needed when the package index is current) and unpacked with
``dpkg-deb -x`` into ``data.download_dir``; ``.deb`` files already there are reused. The split unit is the
*package* (each package's photos share a group), so the default holds out a whole package
(``data.test_sources: [lomiri-wallpapers-16.04]``, 14 photos).
"""
from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass

from cddbench.data import _package_dir


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


def _photos() -> list[Photo]:
    plasma = "/usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
    plasma_lic = "LGPL-3.0 (metadata.json) / GPL-2+ (debian/copyright)"
    mate, lomiri = "/usr/share/backgrounds/mate/nature/{}.jpg", "/usr/share/backgrounds/{}.jpg"
    # Grey (one channel) is left out: the test set is colour. Row order is the patch tables' order.
    rows = [  # (package, name, path, sha256, licence, author)
        ("lomiri-wallpapers-16.04", "Bridge_by_Sander_Klootwijk", lomiri, "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050", "CC-BY-SA-4.0", "Sander Klootwijk"),
        ("lomiri-wallpapers-16.04", "Dragonfly_by_Bolly", lomiri, "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3", "CC-BY-SA-4.0", "Bolly"),
        ("lomiri-wallpapers-16.04", "Picture_0B_by_freespace", lomiri, "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad", "CC-BY-4.0", "Trevor 'Freespace'"),
        ("lomiri-wallpapers-16.04", "Picture_1A_by_freespace", lomiri, "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b", "CC-BY-4.0", "Trevor 'Freespace'"),
        ("lomiri-wallpapers-16.04", "Wine_by_Jakkub_Mede", lomiri, "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74", "CC-BY-4.0", "Jakub Mede"),
        ("lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi", lomiri, "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36", "CC-BY-4.0", "Aitzol Berasategi"),
        ("lomiri-wallpapers-16.04", "analogpattern_by_Peter_Nerlich", lomiri, "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202", "CC-BY-SA-4.0", "Peter Nerlich"),
        ("lomiri-wallpapers-16.04", "free_by_Peter_Nerlich", lomiri, "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373", "CC-BY-SA-4.0", "Peter Nerlich"),
        ("lomiri-wallpapers-16.04", "friends_by_Aitzol_Berasategi", lomiri, "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d", "CC-BY-4.0", "Aitzol Berasategi"),
        ("lomiri-wallpapers-16.04", "greentock_by_Peter_Nerlich", lomiri, "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889", "CC-BY-SA-4.0", "Peter Nerlich"),
        ("lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi", lomiri, "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05", "CC-BY-4.0", "Aitzol Berasategi"),
        ("lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi", lomiri, "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a", "CC-BY-4.0", "Aitzol Berasategi"),
        ("lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt", lomiri, "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f", "CC0-1.0", "Clemens Engelhardt"),
        ("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi", lomiri, "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18", "CC-BY-4.0", "Aitzol Berasategi"),
        ("lomiri-wallpapers-20.04", "Kleiber_by_Lukas_Baubkus", lomiri, "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7", "CC-BY-SA-3.0", "Lukas Baubkus"),
        ("mate-backgrounds", "Aqua", mate, "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce", "GPL-2+", "Charles Barbin"),
        ("mate-backgrounds", "Blinds", mate, "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600", "GPL-2+", "Lennart Poettering, Andrea Cimitan"),
        ("mate-backgrounds", "Dune", mate, "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91", "GPL-2+", "Marco Cogoni, Hylke Bons"),
        ("mate-backgrounds", "FreshFlower", mate, "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e", "GPL-2+", "Jens Ansorg"),
        ("mate-backgrounds", "Garden", mate, "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78", "GPL-2+", "Charles Barbin"),
        ("mate-backgrounds", "GreenMeadow", mate, "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832", "GPL-2+", "Timothy Schellhase, Lapo Calamandrei"),
        ("mate-backgrounds", "LadyBird", mate, "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d", "GPL-2+", "Charles Barbin"),
        ("mate-backgrounds", "RainDrops", mate, "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16", "GPL-2+", "blackcombwhistler07"),
        ("mate-backgrounds", "Storm", mate, "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957", "GPL-2+", "Sergey Nazarov"),
        ("mate-backgrounds", "TwoWings", mate, "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb", "GPL-2+", "Charles Barbin, Hylke Bons"),
        ("mate-backgrounds", "Wood", mate, "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07", "GPL-2+", "Jean-François Fortin Tam"),
        ("mate-backgrounds", "YellowFlower", mate, "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306", "GPL-2+", "Charles Barbin"),
        ("plasma-workspace-wallpapers", "BytheWater", plasma, "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f", plasma_lic, "Maciej Wiklo"),
        ("plasma-workspace-wallpapers", "ColdRipple", plasma, "05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f", plasma_lic, "Risto Saukonpää"),
        ("plasma-workspace-wallpapers", "ColorfulCups", plasma, "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d", plasma_lic, "Dmitri Popov"),
        ("plasma-workspace-wallpapers", "DarkestHour", plasma, "8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce", plasma_lic, "Risto Saukonpää"),
        ("plasma-workspace-wallpapers", "EveningGlow", plasma, "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a", plasma_lic, "Ian Hex"),
        ("plasma-workspace-wallpapers", "FallenLeaf", plasma, "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de", plasma_lic, "Martin Klapetek"),
        ("plasma-workspace-wallpapers", "Kite", plasma, "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8", plasma_lic, "Risto Saukonpää"),
        ("plasma-workspace-wallpapers", "OneStandsOut", plasma, "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd", plasma_lic, "Risto Saukonpää"),
        ("plasma-workspace-wallpapers", "Path", plasma, "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8", plasma_lic, "Risto Saukonpää"),
        ("plasma-workspace-wallpapers", "summer_1am", plasma, "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8", plasma_lic, "Risto Saukonpää"),
    ]
    wallpapers = [Photo(name, pkg, path.format(name), sha, lic, author) for pkg, name, path, sha, lic, author in rows]
    # Camera-size photos (300-1,282 px), used at native resolution: training photos only (the test package is a
    # wallpaper one). opencv-doc's sample data: natural colour photos only (drawings, renders, a painting, grey
    # photos, synthetic targets and the second image of stereo/flow pairs are left out); its debian/copyright
    # covers them only under "Files: *" and names no photographer.
    ocv, ocv_lic = "/usr/share/doc/opencv-doc/examples/data/", "Apache-2.0 AND BSD-3-Clause (debian/copyright, Files: *)"
    camera = [(f"opencv-{f.rsplit('.', 1)[0]}", "opencv-doc", ocv + f, sha, ocv_lic, "not recorded (OpenCV sample data)")
              for f, sha in [
        ("baboon.jpg", "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f"),
        ("fruits.jpg", "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1"),
        ("building.jpg", "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07"),
        ("butterfly.jpg", "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8"),
        ("home.jpg", "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2"),
        ("aero1.jpg", "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef"),
        ("aloeL.jpg", "cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee"),
        ("apple.jpg", "e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd"),
        ("leuvenA.jpg", "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f"),
        ("messi5.jpg", "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
        ("orange.jpg", "152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079"),
        ("rubberwhale1.png", "eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796"),
        ("squirrel_cls.jpg", "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b"),
        ("graf1.png", "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5"),
        ("chicky_512.png", "4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e"),
        ("stuff.jpg", "21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5"),
        ("ela_original.jpg", "b55798b35e2dcb24675f0865a2442d0e4887eeb6aff322ecb1968d936cc23e7f"),
    ]]
    # The installed wheels' colour photographs (paths inside the package; licences from their own docstrings/READMEs)
    camera += [
        ("astronaut", "scikit-image", "data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", "public domain (NASA)", "NASA"),
        ("chelsea", "scikit-image", "data/chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb", "CC0-1.0", "Stefan van der Walt"),
        ("coffee", "scikit-image", "data/coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7", "CC0-1.0", "Rachel Michetti"),
        ("rocket", "scikit-image", "data/rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c", "public domain (SpaceX)", "SpaceX"),
        ("motorcycle_left", "scikit-image", "data/motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179", "not stated (Middlebury 2014 stereo data)", "Scharstein et al."),
        ("china", "scikit-learn", "datasets/images/china.jpg", "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29", "CC-BY-2.0", "danielbuechele"),
        ("flower", "scikit-learn", "datasets/images/flower.jpg", "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638", "CC-BY-2.0", "vultilion"),
        ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", "public domain (U.S. Navy photograph; not stated by matplotlib)", "U.S. Navy"),
    ]
    return wallpapers + [Photo(name, pkg, path, sha, lic, author, native=True) for name, pkg, path, sha, lic, author in camera]


PHOTOS = _photos()
PACKAGES = list(dict.fromkeys(p.package for p in PHOTOS))  # in table order: the order of the patch tables
WHEELS = {"scikit-image": "skimage", "scikit-learn": "sklearn", "matplotlib": "matplotlib"}  # package: module


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _how_to_get(package: str, folder: str, why: str) -> RuntimeError:
    return RuntimeError(
        f"data.source=debian-photos: could not obtain the Debian package {package!r} ({why}). Either make the package "
        f"index current (as root: 'apt-get update'), or put {package}_*.deb (any mirror; 'apt-get download "
        f"{package}' on a machine that has it) into data.download_dir ({folder}), or set data.source: builtin "
        "(the photographs inside the installed Python packages; a smaller, less diverse set).")


def fetch_package(package: str, folder: str) -> str:
    """The unpacked tree of ``package`` under ``folder`` (downloaded with apt-get and unpacked with dpkg-deb once);
    its version is read from the .deb's file name."""
    os.makedirs(folder, exist_ok=True)
    debs = sorted(glob.glob(os.path.join(folder, f"{package}_*.deb")))
    if not debs:
        if not shutil.which("apt-get"):
            raise _how_to_get(package, folder, "apt-get is not on PATH")
        run = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
        debs = sorted(glob.glob(os.path.join(folder, f"{package}_*.deb")))
        if run.returncode or not debs:
            raise _how_to_get(package, folder, f"apt-get download failed: {run.stderr.strip()[-300:]}")
    tree = os.path.join(folder, package)
    if not os.path.isdir(tree):
        if not shutil.which("dpkg-deb"):
            raise _how_to_get(package, folder, "dpkg-deb is not on PATH")
        partial = tree + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        run = subprocess.run(["dpkg-deb", "-x", debs[-1], partial], capture_output=True, text=True)
        if run.returncode:
            raise _how_to_get(package, folder, f"dpkg-deb -x {os.path.basename(debs[-1])} failed: {run.stderr.strip()}")
        os.replace(partial, tree)
    return tree


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


def obtain(folder: str, packages: list[str]) -> list[tuple[Photo, str]]:
    """Every listed photo of ``packages`` as (photo, file path), in table order, each checked against its SHA-256.
    A missing or altered file is an error that names it."""
    out = []
    for package in dict.fromkeys(p.package for p in selected(packages)):
        tree = str(_package_dir(WHEELS[package])) if package in WHEELS else fetch_package(package, folder)
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
