"""Make the CUDA-only torchvision 0.28.0 importable on CPU torch 2.13.0.

Why this exists: torchvision's Python side registers fake kernels for its C++ ops
(``torchvision::nms``, ``torchvision::qnms``) when it is imported. Its compiled extension
does not load against the CPU build of torch, so the op *schemas* were never defined and
``import torchvision`` dies with "operator torchvision::nms does not exist". lpips and
clean-fid import torchvision for their backbones, and diffusers imports it when present.
Defining the two schemas (no kernels) lets torchvision import; the models we use
(alexnet, inception_v3) never call these ops. ``torchvision.io`` stays broken: we use PIL.
No maintained package provides this, hence the shim. It is a no-op where torchvision's
extension loads (a matching torch and torchvision, e.g. on a CUDA machine: there the extension defines the schemas
itself, and defining them first made torchvision's import abort the process, seen on an H200 with torch 2.11) or
where the schemas already exist.
"""
from __future__ import annotations

import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY = None  # keep the torch.library handle alive for the process lifetime


class _BeforeTorchvision:
    """A meta-path finder that runs ``install`` the moment anything first looks for torchvision (diffusers, lpips
    and clean-fid import it, diffusers also probes for it), then steps aside. Importing cddbench therefore does
    not import torch: the Snakefile's parse and the light modules (config, photos, data, paper) stay torch-free."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            install_lazily.hook = None
            sys.meta_path.remove(self)
            install()
        return None  # the normal finders do the import


def install_lazily() -> None:
    """Arrange for ``install`` to run before torchvision's first import (now, if it is already imported)."""
    if "torchvision" in sys.modules:
        install()
    elif getattr(install_lazily, "hook", None) is None:
        install_lazily.hook = _BeforeTorchvision()
        sys.meta_path.insert(0, install_lazily.hook)


def install() -> None:
    global _LIBRARY
    if "torchvision" in sys.modules or _LIBRARY is not None:
        return
    import torch

    missing = [name for name in _SCHEMAS if not _op_exists(torch, name)]
    if not missing or _extension_loads(torch):
        return
    _LIBRARY = torch.library.Library("torchvision", "DEF")
    for name in missing:
        _LIBRARY.define(_SCHEMAS[name])


def _extension_loads(torch) -> bool:
    """Load torchvision's compiled extension the way its import does (without importing torchvision); False
    where it does not load against this torch."""
    import glob
    import importlib.util
    import os

    spec = importlib.util.find_spec("torchvision")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for lib in glob.glob(os.path.join(folder, "_C*.so")):
            try:
                torch.ops.load_library(lib)  # a second dlopen by torchvision's import is a no-op
                return True
            except (OSError, RuntimeError):
                pass
    return False


def _op_exists(torch, name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        return True
    except RuntimeError:
        return False
