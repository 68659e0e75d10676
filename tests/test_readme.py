import re


def test_ci_runs_the_readme_test_command(repo):
    readme = open(f"{repo}/README.md").read()
    blocks = re.findall(r"```bash\n(.*?)```", readme.split("## Quick start")[1].split("\n## ")[0], re.S)
    commands = [line for b in blocks for line in b.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert commands[0].endswith("snakemake --cores all results/table1.csv")
    assert commands[1] in open(f"{repo}/.ci/run").read()
