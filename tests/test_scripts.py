"""The maintainers' scripts in workflow/scripts/ run (results_page.py and lr_quality.py run on the smoke DAG's results
in tests/test_workflow.py, rehearsal_assets.py in tests/test_rehearsal.py; this one needs no run)."""
import os
import re
import subprocess
import sys


def test_gpu_hours_estimate_counts_every_paper_stage(repo):
    out = subprocess.run([sys.executable, "workflow/scripts/estimate_gpu_hours.py", "--measured",
                          os.path.join("tests", "data", "gpu_check_h200.json")], cwd=repo, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    stages = re.findall(r"^\| (encode_train|train|sample) \| ([^|]+) \|", out.stdout, re.M)
    assert {s for s, _ in stages} == {"encode_train", "train", "sample"}
    assert {"ldm_sr", "cdd", "cm", "gd"} <= {run.strip() for _, run in stages}
    total = float(re.search(r"\| \*\*total\*\* \| \| \| \| \*\*([0-9.]+)\*\* \|", out.stdout).group(1))
    assert total > 0
