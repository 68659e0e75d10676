"""profiles/slurm against a real one-node SLURM cluster (tests/slurm_cluster.py): a reduced smoke DAG is run once
locally and once through `--profile profiles/slurm`; every job must be a real SLURM job, one job fails once and is
retried, and Table 1 must come out the same. Skipped, with the reason, where the machine cannot run the cluster."""
import os
import re
import stat
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest
import yaml

import slurm_cluster
from test_workflow import ENV, SNAKEMAKE, _workdir, reduced_config

CANNOT = slurm_cluster.why_not()
TIMEOUT_S = 1200  # hard limit: SIGKILL, since a lost job can make Snakemake ignore SIGTERM 
FAILS_ONCE = "reference"  # the cddbench subcommand whose first call fails (rule reference_features)


def _job_stats(log: str) -> Counter:
    """Snakemake's 'Job stats' table (rule -> jobs) from a run's log."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return Counter({r[0]: int(r[1]) for r in rows if len(r) == 2 and r[0] != "total"})


def _fail_once_wrapper(tmp_path) -> str:
    """A `cddbench` first on PATH that fails the first `cddbench reference` call, then runs the real one."""
    real = os.path.join(os.path.dirname(sys.executable), "cddbench")
    bin_dir, marker = tmp_path / "bin", tmp_path / "failed-once"
    bin_dir.mkdir()
    wrapper = bin_dir / "cddbench"
    wrapper.write_text(f"""#!/bin/sh
if [ "$1" = "{FAILS_ONCE}" ] && [ ! -e {marker} ]; then
  touch {marker}; echo "injected failure (test_slurm)" >&2; exit 3
fi
exec {real} "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


@pytest.mark.e2e
@pytest.mark.skipif(CANNOT is not None, reason=f"no SLURM cluster on this machine: {CANNOT}")
def test_smoke_dag_through_slurm_profile_matches_local_run(repo, tmp_path):
    slurm_cluster.install()
    cfg = reduced_config(repo)
    for stage in ("train", "sample", "evaluate"):
        cfg["cluster"][stage] = {"mem_mb": 1500, "runtime": 20}
    dirs = {}
    for name in ("local", "slurm"):
        wd = tmp_path / name
        wd.mkdir()
        dirs[name] = _workdir(repo, str(wd))
        with open(wd / "config.yaml", "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)

    local = subprocess.run(SNAKEMAKE + ["--profile", "profiles/local", "--cores", "2", "results/table1.csv"],
                           cwd=dirs["local"], capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV)
    assert local.returncode == 0, local.stderr[-5000:]
    expected_jobs = _job_stats(local.stderr)

    env = {**ENV, "PATH": _fail_once_wrapper(tmp_path) + os.pathsep + ENV["PATH"]}
    with slurm_cluster.Cluster(tmp_path / "cluster") as cluster:
        # test overrides: the test cluster's partition, small memory requests, fast status polling
        cmd = ["timeout", "-s", "KILL", str(TIMEOUT_S)] + SNAKEMAKE + [
            "--profile", "profiles/slurm", "--jobs", "2", "results/table1.csv",
            "--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=20",
            "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "3"]
        run = subprocess.run(cmd, cwd=dirs["slurm"], capture_output=True, text=True, env=cluster.env(env))
        records = cluster.jobcomp()
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"exit {run.returncode}\n{log[-6000:]}"

    # every job ran as a SLURM job: one per-job log named by its SLURM job id, and Slurm's own record of it
    slurm_logs = sorted((tmp_path / "slurm" / "results" / "logs" / "slurm").rglob("*.log"))
    by_id = {r["JobId"]: r for r in records}
    ran = Counter()
    attempts = Counter()
    for path in slurm_logs:
        rule = path.relative_to(tmp_path / "slurm" / "results" / "logs" / "slurm").parts[0].removeprefix("rule_")
        job_id = path.stem
        assert job_id in by_id, f"{path}: no SLURM record of job {job_id}"
        assert by_id[job_id]["NodeList"] == slurm_cluster.NODE
        attempts[(rule, str(path.parent))] += 1
        if by_id[job_id]["JobState"] == "COMPLETED":
            ran[rule] += 1
    assert ran == expected_jobs, f"SLURM jobs per rule {dict(ran)} != the local run's {dict(expected_jobs)}"
    assert set(re.findall(r"SLURM jobid (\d+)", log)) == set(by_id), "Snakemake's job ids vs Slurm's records"

    # the injected failure: one FAILED record, then the retry completed and the DAG went on
    failed = [r for r in records if r["JobState"] != "COMPLETED"]
    assert len(failed) == 1 and failed[0]["JobState"] == "FAILED", failed
    assert [n for key, n in attempts.items() if n > 1] == [2] and \
        [key[0] for key, n in attempts.items() if n > 1] == ["reference_features"]
    assert (tmp_path / "failed-once").exists()

    # the same Table 1 as the local run, byte for byte
    tables = {name: open(os.path.join(d, "results", "table1.csv")).read() for name, d in dirs.items()}
    assert tables["slurm"] == tables["local"]
    table = pd.read_csv(os.path.join(dirs["slurm"], "results", "table1.csv"))
    assert set(table[table["status"] == "measured"]["run"]) == {"bicubic", "ldm_sr", "cdd"}
