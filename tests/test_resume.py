"""Training resumes: a job killed with SIGKILL and started again ends with the same weights, bit for bit (CPU)."""
import copy
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from cddbench.train import Checkpoint, fit

CDDBENCH = os.path.join(os.path.dirname(sys.executable), "cddbench")


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory, repo, ts):
    """A teacher, an autoencoder and an encoded training set on disk, and a config whose runs train 120 steps."""
    from conftest import save_tiny_job

    root = tmp_path_factory.mktemp("job")
    cfg = save_tiny_job(root, ts, repo)
    cfg.update(threads=1, checkpoint_every=5, variants={})
    small = {"steps": 120, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.9, "log_every": 5}
    cfg["methods"]["cdd"]["train"] = {**small, "ema_decay": 0.0}
    cfg["methods"]["gd"].update(rounds=2, train={**small, "steps": 60, "ema_decay": 0.0}, finetune={**small, "steps": 60})
    with open(root / "config.yaml", "w") as f:
        yaml.safe_dump(cfg, f)
    return root


def _cmd(root, run, out):
    return [CDDBENCH, "train", "--config", str(root / "config.yaml"), "--threads", "1", "--run", run,
            "--train-set", str(root / "train_set.pt"), "--vae", str(root / "vae"), "--teacher", str(root / "teacher"),
            "--out", str(root / out), "--log", str(root / f"{out}.csv"), "--checkpoints", str(root / f"{out}.ckpt")]


def _weights(folder):
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files if f.endswith(".safetensors")}


# GD: several fit() calls in one job (killed in round 2, round 1 restored whole); CDD through Snakemake below
@pytest.mark.parametrize("run,checkpoint", [("gd", "round2.pt")])
def test_sigkilled_training_resumes_to_bit_identical_weights(tiny_job, run, checkpoint):
    root = tiny_job
    ref = subprocess.run(_cmd(root, run, f"{run}-ref"), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert not os.path.exists(root / f"{run}-ref.ckpt")  # removed once the job's output was written

    job = subprocess.Popen(_cmd(root, run, f"{run}-killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = root / f"{run}-killed.ckpt" / checkpoint
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["step"] >= 10:
            break
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert not os.path.exists(root / f"{run}-killed")  # no output a later run could take for a finished one
    killed_at = torch.load(ckpt, weights_only=True)["step"]

    again = subprocess.run(_cmd(root, run, f"{run}-killed"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from the checkpoint at step {killed_at}" in again.stdout + again.stderr
    assert _weights(root / f"{run}-killed") == _weights(root / f"{run}-ref") != {}
    assert open(root / f"{run}-killed.csv").read() == open(root / f"{run}-ref.csv").read()  # the same loss log


def _tiny_fit(tmp_path, steps, ckpt_key="k", nan_at=None):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    g = torch.Generator().manual_seed(1)

    def loss_fn(idx, step):
        noise = torch.randn(len(idx), 1, generator=g)
        loss = (model(x[idx]) - y[idx] - 0.1 * noise).pow(2).mean()
        return {"loss": loss * float("nan") if step == nan_at else loss}

    tcfg = dict(steps=steps, batch_size=8, lr=1e-2, ema_decay=0.5, log_every=2)
    ck = Checkpoint(str(tmp_path / "ck.pt"), 5, ckpt_key, {"g": g})
    return fit(model, loss_fn, tcfg, 32, 0, str(tmp_path / "log.csv"), "tiny", checkpoint=ck)


def test_a_nan_loss_names_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(FloatingPointError, match="tiny: loss term 'loss' is nan at step 7"):
        _tiny_fit(tmp_path, 20, nan_at=7)
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["step"] == 5  # the last good one, never overwritten


def test_a_checkpoint_of_another_config_is_ignored(tmp_path, capsys):
    _tiny_fit(tmp_path, 10, ckpt_key="config A")
    fresh = copy.deepcopy(_tiny_fit(tmp_path / "fresh", 10, ckpt_key="config B").state_dict())
    (tmp_path / "fresh" / "ck.pt").unlink()
    os.replace(tmp_path / "ck.pt", tmp_path / "fresh" / "ck.pt")  # A's finished checkpoint where B looks
    again = _tiny_fit(tmp_path / "fresh", 10, ckpt_key="config B")
    assert "ignoring" in capsys.readouterr().out
    assert all(torch.equal(again.state_dict()[k], v) for k, v in fresh.items())


def test_a_diverging_job_fails_naming_step_and_term_and_leaves_no_output(tiny_job):
    root = tiny_job
    with open(root / "config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["methods"]["cdd"]["train"]["lr"] = 1e30  # the first AdamW step blows the weights up
    with open(root / "diverging.yaml", "w") as f:
        yaml.safe_dump(cfg, f)
    cmd = _cmd(root, "cdd", "cdd-nan")
    cmd[cmd.index("--config") + 1] = str(root / "diverging.yaml")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode != 0
    assert re.search(r"FloatingPointError: cdd: loss term '\w+' is (nan|inf|-inf) at step \d+", out.stderr), out.stderr[-2000:]
    assert not os.path.exists(root / "cdd-nan") and not os.path.exists(root / "cdd-nan.partial")  # no model to sample
    step = int(re.search(r"at step (\d+)", out.stderr)[1])
    saved = root / "cdd-nan.ckpt" / "train.pt"
    if step > 5:  # a checkpoint was due before the fault: it is the last good one, not overwritten
        assert torch.load(saved, weights_only=True)["step"] == (step - 1) // 5 * 5
    else:
        assert not saved.exists()


@pytest.mark.e2e
def test_snakemake_rerun_incomplete_resumes_a_killed_training_job(repo, tmp_path):
    from test_workflow import ENV, SNAKEMAKE, _workdir, reduced_config

    cfg = reduced_config(repo, methods=("bicubic", "cdd"))
    cfg["checkpoint_every"] = 10
    cfg["methods"]["cdd"]["train"] = {"steps": 400, "batch_size": 8, "lr": 1e-3, "ema_decay": 0.0, "log_every": 10}
    dirs = {}
    for name in ("killed", "reference"):
        (tmp_path / name).mkdir()
        dirs[name] = _workdir(repo, str(tmp_path / name))
        with open(os.path.join(dirs[name], "config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
    target = ["--cores", "2", "results/models/cdd/train0"]
    ref = subprocess.run(SNAKEMAKE + target, cwd=dirs["reference"], capture_output=True, text=True, timeout=900, env=ENV)
    assert ref.returncode == 0, ref.stderr[-3000:]

    job = subprocess.Popen(SNAKEMAKE + target, cwd=dirs["killed"], env=ENV, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = os.path.join(dirs["killed"], "results", "checkpoints", "cdd", "train0", "train.pt")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and job.poll() is None:
        if os.path.isfile(ckpt) and torch.load(ckpt, weights_only=True)["step"] >= 30:
            break
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # Snakemake and its job, as a lost node or a Ctrl-\\ would
    job.wait()
    assert not os.path.exists(os.path.join(dirs["killed"], "results", "models", "cdd", "train0"))

    unlock = subprocess.run(SNAKEMAKE + ["--unlock"], cwd=dirs["killed"], capture_output=True, text=True, env=ENV)
    assert unlock.returncode == 0, unlock.stderr[-2000:]  # a SIGKILLed Snakemake leaves its lock behind
    again = subprocess.run(SNAKEMAKE + target + ["--rerun-incomplete"], cwd=dirs["killed"], capture_output=True,
                           text=True, timeout=900, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    log = open(os.path.join(dirs["killed"], "results", "logs", "train_cdd_train0.log")).read()
    assert "resumed from the checkpoint at step" in log
    models = {name: _weights(os.path.join(d, "results", "models", "cdd", "train0")) for name, d in dirs.items()}
    assert models["killed"] == models["reference"] != {}
    assert not os.path.exists(ckpt)  # gone once the job's output was written
