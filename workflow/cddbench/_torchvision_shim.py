"""Make the CUDA-only torchvision 0.28.0 importable on CPU torch 2.13.0.

Why this exists: torchvision's Python side registers fake kernels for its C++ ops
(``torchvision::nms``, ``torchvision::qnms``) when it is imported. Its compiled extension
does not load against the CPU build of torch, so the op *schemas* were never defined and
``import torchvision`` dies with "operator torchvision::nms does not exist". lpips and
clean-fid import torchvision for their backbones, and diffusers imports it when present.
Defining the two schemas (no kernels) lets torchvision import; the models we use
(alexnet, inception_v3) never call these ops. ``torchvision.io`` stays broken: we use PIL.
No maintained package provides this, hence the shim. It is a no-op where torchvision's
extension loads (CUDA machines) or where the schemas already exist.
"""
from __future__ import annotations

import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY = None  # keep the torch.library handle alive for the process lifetime


def install() -> None:
    global _LIBRARY
    if "torchvision" in sys.modules or _LIBRARY is not None:
        return
    import torch

    missing = [name for name in _SCHEMAS if not _op_exists(torch, name)]
    if not missing:
        return
    _LIBRARY = torch.library.Library("torchvision", "DEF")
    for name in missing:
        _LIBRARY.define(_SCHEMAS[name])


def _op_exists(torch, name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        return True
    except RuntimeError:
        return False
