# Stage 1-2: HR patches split by source image, then (LR, HR) pairs.


rule patches:
    output:
        train=directory(f"{DATA}/patches/train"),
        test=directory(f"{DATA}/patches/test"),
        report=f"{DATA}/patches/report.json",
    params:
        cfg=cfg_json("seed", "data"),
        out=lambda w, output: os.path.dirname(output.report),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/patches.log",
    benchmark:
        f"{BENCH}/patches.tsv"
    shell:
        "cddbench patches --config {params.cfg:q} --out {params.out} > {log} 2>&1"


rule degrade:
    input:
        f"{DATA}/patches/{{split}}",
    output:
        directory(f"{DATA}/pairs/{{split}}"),
    params:
        cfg=cfg_json("seed", "degradation"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/degrade_{{split}}.log",
    benchmark:
        f"{BENCH}/degrade_{{split}}.tsv"
    shell:
        "cddbench degrade --config {params.cfg:q} --patches {input} --out {output} > {log} 2>&1"
