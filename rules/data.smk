# Stage 1-2: HR crops and the patches inside them, split by source image; then each crop degraded whole and the
# (LR, HR) patch pairs cut from it (as Real-ESRGAN does).


rule patches:
    output:
        train=directory(f"{DATA}/patches/train"),
        test=directory(f"{DATA}/patches/test"),
        train_crops=directory(f"{DATA}/crops/train"),
        test_crops=directory(f"{DATA}/crops/test"),
        report=f"{DATA}/patches/report.json",
    params:
        cfg=cfg_json("seed", "data"),
        out=lambda w, output: os.path.dirname(os.path.dirname(output.report)),  # results/data
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
        patches=f"{DATA}/patches/{{split}}",
        crops=f"{DATA}/crops/{{split}}",
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
        "cddbench degrade --config {params.cfg:q} --patches {input.patches} --crops {input.crops} --out {output}"
        " > {log} 2>&1"
