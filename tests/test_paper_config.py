"""configs/paper.yaml: valid, the paper's setting, and the whole DAG plans offline through the SLURM profile."""
import re
import subprocess

import yaml

from cddbench import config, methods
from test_slurm import _job_stats
from test_workflow import ENV, SNAKEMAKE


def test_paper_config_is_valid_and_the_papers_setting(repo):
    cfg = config.load(f"{repo}/config.yaml", f"{repo}/configs/paper.yaml")  # the schema, variants included
    assert cfg["data"]["patch_size"] == 512 and cfg["data"]["test_source"]  # 512 HR / 128 LR, a held-out test set
    assert cfg["data"]["source"].startswith("hub:") and cfg["degradation"]["method"] == "realesrgan"
    assert cfg["teacher"]["pretrained"] and cfg["evaluate"]["metric_backend"] == "standard"
    assert cfg["methods"]["ldm_sr"]["steps"] == [4, 200] and 4 in cfg["methods"]["cdd"]["steps"]
    cdd = cfg["methods"]["cdd"]
    assert (cdd["distill_steps"], cdd["guidance"]["weight"], cdd["target_ema"]) == (50, 1.0, 0.999)  # the paper / authors' code
    assert cfg["cluster"]["gres"].startswith("gpu") and cfg["precision"] == "bf16"


def test_paper_config_plans_the_whole_dag_through_the_slurm_profile_offline(repo):
    out = subprocess.run(SNAKEMAKE + ["-n", "--profile", "profiles/slurm", "--configfile", "configs/paper.yaml"],
                         cwd=repo, capture_output=True, text=True, timeout=300, env={**ENV, "HF_HUB_OFFLINE": "1"})
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    runs = config.runs(config.load(f"{repo}/config.yaml", f"{repo}/configs/paper.yaml"))
    jobs = _job_stats(log)
    trained = sum(1 for spec in runs.values() if methods.trains(spec["method"]))
    paper = config.load(f"{repo}/config.yaml", f"{repo}/configs/paper.yaml")
    assert trained == 14 and jobs["train"] == trained * len(paper["train_seeds"])  # 13 + the prior_matters run
    assert jobs["download_metric_weights"] == 1 and jobs["table1"] == 1 and jobs["evaluate"] == jobs["sample"] > 50  # one evaluation per sampling job
    # training and sampling jobs ask SLURM for the config's GPU; metrics and notebooks do not
    blocks = re.split(r"\n(?=\[.*\]\nrule )", log)
    gres = {m[1]: m[2] for b in blocks if (m := re.search(r"rule (\w+):.*?resources: .*?gres=([^,\n]*)", b, re.S))}
    assert gres["train"] == gres["sample"] == "gpu:a100:1" and gres["evaluate"] == ""
