"""The quality gates read numbers only (the models are measured earlier by teacher_check): each gate's rule on
hand-made records."""
import json

import numpy as np
import pytest

from cddbench.quality import quality_gates


PHOTOS = 14
# what every record shares when a photograph is left out: that photograph (a hard photograph is hard for every run)
IMAGES = np.random.default_rng(0).normal(0.0, 0.05, PHOTOS)


def _record(tmp_path, name, record, own_sd=0.002):
    """A metric record and the .npz beside it: its value with each photograph left out moves by the shared photograph
    effect plus its own small noise (the per-image sampling noise), each a photograph's share of the mean."""
    noise = np.random.default_rng(len(name)).normal(0.0, own_sd, PHOTOS)
    (tmp_path / f"{name}.json").write_text(json.dumps({"seed": 0, "train_seed": 0, **record}))
    loo = {f"{m}_loo": record[m] + (IMAGES + noise) / PHOTOS for m in ("fd_proxy", "lpips_proxy") if m in record}
    np.savez(tmp_path / f"{name}.npz", photos=np.array([f"p{i}" for i in range(PHOTOS)]), **loo)
    return str(tmp_path / f"{name}.json")


def _write(tmp_path, teacher_fd, ldm_200_fds, bicubic_fd=0.15, random_init_200=(0.30, 0.31) * 2 + (0.30,)):
    # the teacher scored on the test set is 40x the floor there (as the training photos' own patches are): the floor
    # gate reads the training-photo reference only
    checked = {"metric_backend": "proxy", "autoencoder": {"psnr": 30.0, "fd_proxy": 0.1},
               "teacher_fd_proxy": 4.0, "noise_fd_proxy": 40.0, "training_data_fd_proxy": 3.9, "ddim_steps": 50,
               "training_reference": {"n_images": 100, "teacher_fd_proxy": teacher_fd, "autoencoder_fd_proxy": 0.1,
                                      "data_fd_proxy": 0.05}}
    paths = {"teacher": tmp_path / "teacher_check.json", "floor": tmp_path / "floor.json"}
    paths["teacher"].write_text(json.dumps(checked))
    paths["floor"].write_text(json.dumps({"fd_proxy_floor": 0.01}))
    metric_files = [_record(tmp_path, "bicubic", {"run": "bicubic", "steps": 0, "psnr": 25.0, "fd_proxy": bicubic_fd})]
    for tseed, (v4, v200) in enumerate(zip((0.60, 0.62, 0.61, 0.63, 0.60), ldm_200_fds)):  # LDM-SR's runs
        metric_files += [_record(tmp_path, f"ldm4_{tseed}", {"run": "ldm_sr", "steps": 4, "fd_proxy": v4,
                                                             "train_seed": tseed}),
                         _record(tmp_path, f"ldm200_{tseed}", {"run": "ldm_sr", "steps": 200, "fd_proxy": v200,
                                                               "lpips_proxy": v200 + 0.1, "train_seed": tseed})]
    for tseed, v200 in enumerate(random_init_200):  # the same LDM-SR from fresh weights (prior_matters)
        metric_files.append(_record(tmp_path, f"random200_{tseed}", {"run": "ldm_sr-init=random", "steps": 200,
                                                                     "fd_proxy": v200, "lpips_proxy": v200 + 0.1,
                                                                     "train_seed": tseed}))
    return str(paths["teacher"]), str(paths["floor"]), metric_files


@pytest.mark.parametrize("ldm_200, random_200, expected", [
    ((0.10, 0.11) * 2 + (0.1,), None, {"ldm_sr_200_beats_bicubic": True, "prior_matters": True}),
    ((0.16, 0.17) * 2 + (0.16,), None, {"ldm_sr_200_beats_bicubic": False, "prior_matters": True}),  # worse
    # below bicubic by 0.015 in every run, while each run's own photograph spread (+-0.1) is wider than that
    ((0.135,) * 5, None, {"ldm_sr_200_beats_bicubic": True, "prior_matters": True}),
    # the same mean from training runs that disagree: the runs' spread makes the interval span 0
    ((0.07, 0.20) * 2 + (0.135,), None, {"ldm_sr_200_beats_bicubic": False, "prior_matters": True}),
    # fresh weights as good as the teacher's: the prior does not matter
    ((0.10, 0.11) * 2 + (0.1,), (0.10, 0.11) * 2 + (0.1,), {"ldm_sr_200_beats_bicubic": True, "prior_matters": False}),
])
def test_each_gate_decides_on_its_numbers(tmp_path, ldm_200, random_200, expected):
    extra = {"random_init_200": random_200} if random_200 else {}
    teacher, floor, metric_files = _write(tmp_path, 0.25, ldm_200, **extra)
    gates = quality_gates(teacher, floor, metric_files, str(tmp_path / "gates.json"))
    assert {k: gates[k]["pass"] for k in expected} == expected
    assert gates["autoencoder_beats_bicubic"]["pass"]  # 30 dB >= 25 + 2 and 0.1 < 0.15
    assert gates["teacher_beats_noise"]["pass"] and gates["ldm_sr_200_beats_4"]["pass"]  # 0.6 -> ~0.1: far below 0
    assert set(gates["prior_matters"]) >= {"fd_proxy", "lpips_proxy"}  # both metrics judged
    assert gates["all_pass"] == all(expected.values())
    assert json.loads((tmp_path / "gates.json").read_text()) == gates


@pytest.mark.parametrize("teacher_fd, within", [(0.25, True), (0.35, False)])
def test_the_teacher_floor_is_recorded_not_gated(tmp_path, teacher_fd, within):
    teacher, floor, metric_files = _write(tmp_path, teacher_fd, (0.10, 0.11) * 2 + (0.1,))
    gates = quality_gates(teacher, floor, metric_files, str(tmp_path / "gates.json"))
    assert gates["teacher_near_autoencoder_floor"]["within_factor"] is within  # 2.5x / 3.5x the floor
    assert gates["teacher_near_autoencoder_floor"]["factor"] == pytest.approx(teacher_fd / 0.1)
    assert "pass" not in gates["teacher_near_autoencoder_floor"] and gates["all_pass"]


def test_the_bicubic_gate_pairs_the_photographs(tmp_path):
    """One run's interval over photographs is wider than the gap (an unpaired rule would fail it); the difference
    with the same photograph left out is not, so the paired gate passes; its estimate is the difference of the
    point values."""
    from cddbench import paired

    teacher, floor, metric_files = _write(tmp_path, 0.25, (0.135,) * 5)
    gate = quality_gates(teacher, floor, metric_files, str(tmp_path / "gates.json"))["ldm_sr_200_beats_bicubic"]
    cells = paired.load(metric_files)
    own_high = paired.contrast(cells, {("ldm_sr", 200): 1.0}, "fd_proxy").interval(0.95)[1]
    fd = gate["fd_proxy"]
    assert own_high > 0.15 and gate["pass"] and fd["n_photos"] == PHOTOS
    assert fd["difference"] == pytest.approx(-0.015) and fd["difference_high"] < 0 < fd["difference_high"] + 0.015


def test_a_gate_without_the_runs_it_reads_is_an_error_naming_the_run_or_marked_not_run(tmp_path):
    teacher, floor, metric_files = _write(tmp_path, 0.25, (0.10, 0.11) * 2 + (0.1,))
    with pytest.raises(ValueError, match="'ldm_sr'"):
        quality_gates(teacher, floor, metric_files[:1], str(tmp_path / "gates.json"))
    # the premise gate's own run missing (a config without the variant): not run, said so, and not all gates pass
    gates = quality_gates(teacher, floor, [f for f in metric_files if "random" not in f], str(tmp_path / "g.json"))
    assert not gates["prior_matters"]["pass"] and "'ldm_sr-init=random' at 200" in gates["prior_matters"]["not_run"]
    assert not gates["all_pass"] and gates["ldm_sr_200_beats_bicubic"]["pass"]


def test_a_teacher_check_without_the_training_reference_names_the_rerun(tmp_path):
    teacher, floor, metric_files = _write(tmp_path, 0.25, (0.10, 0.11) * 2 + (0.1,))
    checked = json.loads(open(teacher).read())
    del checked["training_reference"]
    open(teacher, "w").write(json.dumps(checked))
    with pytest.raises(ValueError, match="forcerun teacher_check"):
        quality_gates(teacher, floor, metric_files, str(tmp_path / "gates.json"))


def test_the_floor_gates_training_draws_are_disjoint_seeded_and_capped(tmp_path):
    """The teacher's reference and the autoencoder's input are two draws of training patches that share no patch
    (a shared patch would lower the floor), the same for the same seed, and split the set when it holds under 2n."""
    import datasets
    from PIL import Image

    from cddbench.quality import training_draws

    # each patch a constant image whose value is its index: a draw's values name its patches
    ds = datasets.Dataset.from_dict({"image": [Image.fromarray(np.full((4, 4, 3), i, np.uint8)) for i in range(50)]})
    ds.save_to_disk(str(tmp_path / "train"))
    ids = lambda draw: {int(im[0, 0, 0]) for im in draw}  # noqa: E731
    reference, other = training_draws(str(tmp_path / "train"), 20, seed=3)
    assert len(reference) == len(other) == 20 and not ids(reference) & ids(other)
    again = training_draws(str(tmp_path / "train"), 20, seed=3)
    assert ids(again[0]) == ids(reference) and ids(again[1]) == ids(other)
    assert ids(training_draws(str(tmp_path / "train"), 20, seed=4)[0]) != ids(reference)
    small = training_draws(str(tmp_path / "train"), 40, seed=3)
    assert len(small[0]) == len(small[1]) == 25 and not ids(small[0]) & ids(small[1])


def test_teacher_samples_default_is_the_gates_ddim_and_another_scheduler_is_used(repo):
    """teacher_samples without a scheduler is DDIM at teacher.grid_steps with the config's spacing (the gate's); a
    scheduler passed in replaces it (the lab's teacher diagnostic), so a different one gives different samples."""
    import torch
    from diffusers import DDIMScheduler

    from cddbench import config, models
    from cddbench.methods import Context
    from cddbench.quality import teacher_samples

    teacher = f"{repo}/workflow/pretrained/tiny-teacher"  # absolute: the tests may run from anywhere
    cfg = config.load(f"{repo}/config.yaml")
    ctx = Context(cfg=cfg, train_set="", vae_dir=f"{teacher}/vae", teacher_dir=teacher, device="cpu", run="",
                  mcfg=None, base_dir="", checkpoint_dir="", train_seed=0)

    def ddim(steps):
        s = DDIMScheduler.from_config(models.load_scheduler(teacher).config, clip_sample=False, set_alpha_to_one=True,
                                      timestep_spacing=cfg["sampler"]["timestep_spacing"])
        s.set_timesteps(steps)
        return s

    gate = teacher_samples(ctx, 3, 0)
    assert torch.equal(gate, teacher_samples(ctx, 3, 0, ddim(cfg["teacher"]["grid_steps"])))
    assert not torch.allclose(gate, teacher_samples(ctx, 3, 0, ddim(4)), atol=1e-3)
