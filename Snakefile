# CDD benchmark: raw images -> degradation -> teacher -> baselines -> samples -> metrics -> Table 1.
# Targets and includes only; each stage lives in rules/<stage>.smk and calls one `cddbench` CLI subcommand.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default; --configfile overlays (configs/paper.yaml, tests/smoke.yaml) merge over it. The merged config
# is validated once, against workflow/cddbench/config.schema.yaml and the relations between keys, in
# rules/common.smk (cddbench.config.validate) before any job.
configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# Targets and the weight download (needs network, which cluster nodes often lack) run where Snakemake runs.
localrules:
    all,
    toy,
    figures,
    download_metric_weights,


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/teacher.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/known_answer.smk"


rule all:
    input:
        "results/table1.csv",
        "results/table1.md",
        "results/claims.md",
        "results/quality_gates.json",
        "results/metric_validation.csv",
        rules.figures.input,
    default_target: True
