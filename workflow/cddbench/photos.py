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
"""
from __future__ import annotations

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


def _photos() -> list[Photo]:
    plasma = "/usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
    plasma_lic = "LGPL-3.0 (metadata.json) / GPL-2+ (debian/copyright)"
    mate, lomiri = "/usr/share/backgrounds/mate/nature/{}.jpg", "/usr/share/backgrounds/{}.jpg"
    enl = "/usr/share/enlightenment/data/backgrounds/{}.edj"
    enl_lic, enl_author = "BSD-2-Clause (debian/copyright, Files: *)", "not recorded (Enlightenment contributors)"
    lxqt = "/usr/share/lxqt/wallpapers/{}"  # 11 photographs; the rest of the folder is logos and renders
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
        # enlightenment-data: 14 of 18 backgrounds (Dunes, Sunset-Hills, Flat-Fan, Paper-Flower are drawings), each an
        # EET archive (.edj) of 13 JPEG sizes; the hash pins the archive, and the largest JPEG inside is the photo
        ("enlightenment-data", "Bamboo", enl, "53ea365cefdf42f49d68b1415a2255b74a8e4594fe78d7c39c5af60a6e897097", enl_lic, enl_author),
        ("enlightenment-data", "Foggy-Trees", enl, "48d958e9f41a2d5af151ac9a6edfad34989e65d44a6602b55c9cf45ca5771ff8", enl_lic, enl_author),
        ("enlightenment-data", "God-Rays", enl, "95791b71c50280c52135b767cd8e14420b196c92e29162964badfd20968adae1", enl_lic, enl_author),
        ("enlightenment-data", "Green-Maple", enl, "78178a3f9af4372ac532c57cb9470209658ee3c21c381ccba5f7607dca090e46", enl_lic, enl_author),
        ("enlightenment-data", "Lichen-Branches", enl, "2a2f3a09e02dbfa50757444bc3100c90b91e3cb053c4cf7731334ead7d34042a", enl_lic, enl_author),
        ("enlightenment-data", "Mountain", enl, "9e05a784efaac919af789a0f89b4a5de711d1bac859ed971547d6cd09d54b75d", enl_lic, enl_author),
        ("enlightenment-data", "Peaks", enl, "25e7cd527440f434de0ac779a66d0a0704b5d0974405c60409beb257543f0ceb", enl_lic, enl_author),
        ("enlightenment-data", "Red-Maple", enl, "53ea5bf96fe8227c18fd2f27536cf46fea33bdb3db8c154eb412ce1127c54882", enl_lic, enl_author),
        ("enlightenment-data", "Sea-of-Lanterns", enl, "d880dc109bf6d4eb493feae612f61f63249ff494b3cbce9216646fe9d92109c0", enl_lic, enl_author),
        ("enlightenment-data", "Snow-Trees", enl, "09da5c21c6ff02628c61bb6c60e0760a0b5996d022bfddbf0bed6ef620ce5b5b", enl_lic, enl_author),
        ("enlightenment-data", "Spruce-Needles", enl, "e4ba168d17daffec459e96d09835462ef137d97dbdadda6f5a4e0eef46c83cca", enl_lic, enl_author),
        ("enlightenment-data", "Sunset-Clouds", enl, "9b2041d7107f966e036c0fc97ed40fda657f2930d2e37360ce46fbb216211c45", enl_lic, enl_author),
        ("enlightenment-data", "White-Flower", enl, "6e464125ba760eda1aed776921b8e665fece221d327710e988129ac18dc0528d", enl_lic, enl_author),
        ("enlightenment-data", "Yellow-Flower", enl, "28002bd39a732f6b6a4ef4335931a25cb73d2340b1d95da51e3a8b53b735baa2", enl_lic, enl_author),
        ("lxqt-themes", "Butterfly-Kenneth-Wimer", lxqt.format("Butterfly-Kenneth-Wimer.jpg"), "c237c26f6f0b18db3afa62a0eff13cb8208b79a1ef35aaadcb745d8f9faef146", "CC-BY-SA-3.0 (wallpapers/License)", "Kenneth Wimer"),
        ("lxqt-themes", "Valendas", lxqt.format("Valendas.png"), "f2d275c51d116942cea8e7d80d30c7d3c130349a0695caf2aa235f926ae15759", "CC-BY-SA-3.0 (wallpapers/License)", "not recorded (LXQt Project Team)"),
        ("lxqt-themes", "after-the-rain", lxqt.format("after-the-rain.jpg"), "e6cb8b3e09b904cc493ff17fddcd564d4e46a1761d05adf972c285a1fd878234", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "appleflower", lxqt.format("appleflower.png"), "bae8a8eb8274b29509f1cbbfe250081331c5704a1fea25d5052166a0451e67f3", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "beam", lxqt.format("beam.png"), "3d199194b048cb793c0ad558337cda3e16f14cd054168d1d813620e24a0a5659", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "butterfly", lxqt.format("butterfly.png"), "13175434d99075e075de7321942e66169e3c99ac9416024dcf4123bd3b38749c", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "cloud", lxqt.format("cloud.png"), "522dbf79dfaff751cf8ef2f337c9d196a231fa096bc38806a76ce048b8c7b5a2", "CC-BY-SA-3.0 (wallpapers/License)", "not recorded (LXQt Project Team)"),
        ("lxqt-themes", "drop", lxqt.format("drop.png"), "3b726aea9a6f8af36431c6f1974f982f7f4c5a4443499500bda31be27e4ffde8", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "flowers", lxqt.format("flowers.png"), "3a935d8be4d6c9784f9079ff2814acd2de2c8406e9fe584be03e90264f37c371", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "fog", lxqt.format("fog.jpg"), "a8235344ee6b5ab1b6de3ccef731bcc0e6509cf33ce832db87eae1eb75987083", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
        ("lxqt-themes", "this-is-not-windows", lxqt.format("this-is-not-windows.jpg"), "2d885e0438c0ab244f818d33d8f745a1cc486558462faf9bf3948675c68ac227", "CC-BY-SA-3.0 (wallpapers/License)", "stefonarch"),
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
    # palapeli-data's puzzle photographs (1,024-1,620 px, camera-size: native); licence and author from each .desktop
    camera += [
        ("castle-maintenon", "palapeli-data", "/usr/share/palapeli/collection/castle-maintenon.jpg", "f4a6bf48b97d97715413f9ebd2d8744bd46df0e492bc8326e2513d51084f2612", "GFDL (per-image .desktop)", "Eric Pouhier"),
        ("cincinnati-bridge", "palapeli-data", "/usr/share/palapeli/collection/cincinnati-bridge.jpg", "09772d09318b34a5c5edd58ee86ff462bcd2907006f31cc8e0704310f8e9ab60", "public domain (per-image .desktop)", "Derek Jensen"),
        ("citrus-fruits", "palapeli-data", "/usr/share/palapeli/collection/citrus-fruits.jpg", "0cbd7154a14789803167c86705130d0358875198231269df168ea26224e70848", "public domain (per-image .desktop)", "US Department of Agriculture"),
        ("european-honey-bee", "palapeli-data", "/usr/share/palapeli/collection/european-honey-bee.jpg", "9d54ae706bddd899c91b2b801d9ca4556a5a9a399b4043f9d539df62a8cb7f27", "public domain (per-image .desktop)", "John Severns"),
        ("panther-chameleon-female", "palapeli-data", "/usr/share/palapeli/collection/panther-chameleon-female.jpg", "adb9e2834a8a3db40ca3817452b956ada527085e5aa2bd604c465651a3834ae4", "GFDL (per-image .desktop)", "B. Navez and others"),
    ]
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
