"""The quality gates read numbers only (the models are measured earlier by teacher_check): each gate's rule on
hand-made records."""
import json

import pytest

from cddbench.quality import quality_gates


def _write(tmp_path, teacher_fd, ldm_200_high, bicubic_fd=0.15):
    checked = {"metric_backend": "proxy", "autoencoder": {"psnr": 30.0, "fd_proxy": 0.1},
               "teacher_fd_proxy": teacher_fd, "noise_fd_proxy": 10.0, "training_data_fd_proxy": 0.2,
               "ddim_steps": 50}
    records = [{"run": "bicubic", "steps": 0, "psnr": 25.0, "fd_proxy": bicubic_fd}]
    records += [{"run": "ldm_sr", "steps": 4, "fd_proxy": v} for v in (0.60, 0.62)]
    records += [{"run": "ldm_sr", "steps": 200, "fd_proxy": v, "fd_proxy_ci_high": ldm_200_high} for v in (0.30, 0.31)]
    paths = {"teacher": tmp_path / "teacher_check.json", "floor": tmp_path / "floor.json"}
    paths["teacher"].write_text(json.dumps(checked))
    paths["floor"].write_text(json.dumps({"fd_proxy_floor": 0.01}))
    metric_files = []
    for i, r in enumerate(records):
        metric_files.append(str(tmp_path / f"m{i}.json"))
        (tmp_path / f"m{i}.json").write_text(json.dumps(r))
    return str(paths["teacher"]), str(paths["floor"]), metric_files


@pytest.mark.parametrize("teacher_fd, ldm_high, expected", [
    (0.25, 0.12, {"teacher_near_autoencoder_floor": True, "ldm_sr_200_beats_bicubic": True}),
    (0.35, 0.12, {"teacher_near_autoencoder_floor": False, "ldm_sr_200_beats_bicubic": True}),  # 3.5x the floor
    (0.25, 0.16, {"teacher_near_autoencoder_floor": True, "ldm_sr_200_beats_bicubic": False}),  # interval reaches bicubic
])
def test_each_gate_decides_on_its_numbers(tmp_path, teacher_fd, ldm_high, expected):
    teacher, floor, metric_files = _write(tmp_path, teacher_fd, ldm_high)
    gates = quality_gates(teacher, floor, metric_files, str(tmp_path / "gates.json"))
    assert {k: gates[k]["pass"] for k in expected} == expected
    assert gates["autoencoder_beats_bicubic"]["pass"]  # 30 dB >= 25 + 2 and 0.1 < 0.15
    assert gates["teacher_beats_noise"]["pass"] and gates["ldm_sr_200_beats_4"]["pass"]  # gap 0.305 > spread 0.02
    assert gates["all_pass"] == all(expected.values())
    assert json.loads((tmp_path / "gates.json").read_text()) == gates


def test_a_gate_without_the_runs_it_reads_is_an_error_naming_the_run(tmp_path):
    teacher, floor, metric_files = _write(tmp_path, 0.25, 0.12)
    with pytest.raises(ValueError, match="'ldm_sr'"):
        quality_gates(teacher, floor, metric_files[:1], str(tmp_path / "gates.json"))
