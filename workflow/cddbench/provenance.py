"""The provenance of a pretrained teacher this project exports: which photographs and data settings it was trained
on, and the check that a config's training split is exactly those (a held-out photo in the teacher's training would
leak into the test). Light on purpose (no torch): the Snakefile runs the check at parse time (``config.validate``).
"""
from __future__ import annotations

import json
import os

from cddbench import data, photos

TRAINING_DATA = "training_data.json"
# the data settings that decide which HR patches a teacher trained on (the held-out split follows from them too)
PATCH_KEYS = ("source", "test_source", "split_by", "test_sources", "test_fraction", "downsample", "crop_size",
              "patch_size", "train_stride", "min_patch_std", "max_patches_per_source")


def training_photos(cfg: dict) -> dict[str, str] | None:
    """``{source image: SHA-256}`` of the config's training split, from the config alone (the debian-photos list is
    pinned in code; builtin and folder images are hashed); None for a hub source, which cannot be listed offline."""
    dcfg = cfg["data"]
    source = dcfg["source"]
    strata = {}
    if source == "debian-photos":
        chosen = photos.selected(dcfg["photo_packages"])
        by_photo = dcfg["split_by"] == "photo"
        sources = [(p.name, p.name if by_photo else p.package, p.sha256) for p in chosen]
        strata = {p.name: p.package for p in chosen} if by_photo else {}
    elif source == "builtin" or source.startswith("folder:"):
        listed = data.builtin_sources() if source == "builtin" else data.folder_sources(source[len("folder:"):])
        sources = [(s.name, s.group, photos.sha256(s.path)) for s in listed]
    else:
        return None
    if dcfg["test_source"]:
        test_groups: set[str] = set()
    else:
        test_groups = data.split_groups([g for _, g, _ in sources], dcfg["test_sources"], dcfg["test_fraction"],
                                        cfg["seed"], strata)
    return {name: sha for name, group, sha in sources if group not in test_groups}


def training_data(cfg: dict) -> dict:
    """What a teacher trained on ``cfg``'s training split saw: the data settings and the training photos."""
    return {"data": {k: cfg["data"][k] for k in PATCH_KEYS}, "photos": training_photos(cfg)}


def check_exported_teacher(cfg: dict) -> str:
    """Raise ValueError naming every difference when ``teacher.pretrained`` is a teacher this project exported (it
    has ``training_data.json``) and it was trained on other data than the config's training split (a held-out photo
    in its training would leak into the test) or under another ``teacher.schedule`` (the DAG runs the teacher's own
    scheduler, so a differing config key would otherwise be ignored without a word). Returns a line saying what was
    checked; a teacher without a record (e.g. Stable Diffusion) cannot be checked, and says so."""
    ref = cfg["teacher"]["pretrained"]
    if not ref:
        return "teacher trained in the DAG on the config's training split"
    record_file = os.path.join(ref, TRAINING_DATA)
    if not os.path.isfile(record_file):
        return f"teacher.pretrained={ref}: no {TRAINING_DATA}; its training data cannot be checked"
    with open(record_file) as f:
        recorded = json.load(f)
    wanted = training_data(cfg)
    problems = [f"data.{k}: the teacher was trained with {recorded['data'].get(k)!r}, the config has {v!r}"
                for k, v in wanted["data"].items() if recorded["data"].get(k) != v]
    have, want = recorded.get("photos") or {}, wanted["photos"] or {}
    if recorded.get("photos") is not None and wanted["photos"] is not None:
        leaked = sorted(set(have) - set(want))
        if leaked:
            problems.append(f"photos the teacher trained on that are not in the config's training split (a test "
                            f"photo would leak): {leaked}")
        unseen = sorted(set(want) - set(have))
        if unseen:
            problems.append(f"training photos the teacher never saw: {unseen}")
        changed = sorted(n for n in set(have) & set(want) if have[n] != want[n])
        if changed:
            problems.append(f"photos whose SHA-256 differs from the teacher's: {changed}")
    sched_file = os.path.join(ref, "scheduler", "scheduler_config.json")
    with open(sched_file) as f:
        saved = json.load(f)  # diffusers writes every key, so a key it lacks is a teacher saved before diffusers had it
    problems += [f"teacher.schedule.{k}: the teacher was trained with {saved.get(k, False)!r}, the config has {v!r}"
                 for k, v in cfg["teacher"]["schedule"].items() if saved.get(k, False) != v]
    if problems:
        raise ValueError(f"invalid config at teacher.pretrained: {ref} was trained on other data or under another "
                         "schedule than this config's: " + "; ".join(problems) + ". Use the settings it records "
                         f"({record_file}, {sched_file}), retrain it (configs/pretrain.yaml), or set "
                         "teacher.pretrained: null")
    return (f"teacher.pretrained={ref}: trained on exactly the config's {len(want)} training photos, patch settings "
            "and noise schedule")
