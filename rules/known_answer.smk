# The known-answer tier (`snakemake --cores all toy`): the methods' losses and samplers on a problem whose teacher
# and answer are exact (cddbench.toy, cddbench.known_answer); one job per training seed, one for the exact rows.
TOY = f"{RESULTS}/toy"
TOY_PARTS = ["exact"] + [f"seed{s}" for s in config["known_answer"]["train_seeds"]]


rule toy_part:
    output:
        csv=f"{TOY}/parts/{{part}}.csv.gz",
        samples=f"{TOY}/parts/{{part}}.samples.npz",
    wildcard_constraints:
        part=r"exact|seed\d+",
    params:
        cfg=cfg_json("seed", "threads", "teacher", "methods", "variants", "sampler", "known_answer"),
        seed=lambda w: w.part.removeprefix("seed"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/toy_{{part}}.log",
    threads: 1
    resources:
        **cluster_resources("train"),
    benchmark:
        f"{BENCH}/toy_{{part}}.tsv"
    shell:
        "cddbench known-answer --config {params.cfg:q} --threads {threads} --train-seed {params.seed}"
        " --out {output.csv} > {log} 2>&1"


rule toy:
    input:  # the exact rows' part first, then the training seeds' (the samples figure reads the first two)
        parts=expand(f"{TOY}/parts/{{part}}.csv.gz", part=TOY_PARTS),
        samples=expand(f"{TOY}/parts/{{part}}.samples.npz", part=TOY_PARTS),
    output:
        table=f"{TOY}/table.csv",
        claims=f"{TOY}/claims.csv",
        claims_md=f"{TOY}/claims.md",
        steps_png=f"{TOY}/metrics_vs_steps.png",
        samples_png=f"{TOY}/samples.png",
    params:
        cfg=cfg_json("seed", "known_answer"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/toy.log",
    benchmark:
        f"{BENCH}/toy.tsv"
    shell:
        "cddbench known-answer-table --config {params.cfg:q} --parts {input.parts} --out {output.table}"
        " --claims {output.claims} --claims-md {output.claims_md} --steps-figure {output.steps_png}"
        " --samples-figure {output.samples_png} > {log} 2>&1"


rule claims_tiers:
    # each claim's verdict on both tiers: `snakemake --cores all results/claims_tiers.md` (the image DAG and the toy)
    input:
        images=f"{RESULTS}/claims.csv",
        known_answer=f"{TOY}/claims.csv",
    output:
        f"{RESULTS}/claims_tiers.md",
    params:
        cfg=cfg_json("seed"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/claims_tiers.log",
    shell:
        "cddbench claims-tiers --config {params.cfg:q} --images {input.images} --known-answer {input.known_answer}"
        " --out {output} > {log} 2>&1"
