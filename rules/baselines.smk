# Stage 4: every method that trains (one generic rule; the method module does the work).


rule train_method:
    input:
        pairs=f"{DATA}/pairs/train",
        vae=f"{MODELS}/autoencoder",
        teacher=f"{MODELS}/teacher",
    output:
        directory(f"{MODELS}/{{method}}"),
    params:
        cfg=lambda w: method_cfg_json(w.method),
    conda:
        CONDA_ENV
    log:
        log=f"{LOGS}/train_{{method}}.log",
        loss=f"{LOGS}/train_{{method}}.loss.csv",
    threads: config["threads"]
    benchmark:
        f"{BENCH}/train_{{method}}.tsv"
    shell:
        "cddbench train --config {params.cfg:q} --threads {threads} --method {wildcards.method}"
        " --train-pairs {input.pairs} --vae {input.vae} --teacher {input.teacher} --out {output} --log {log.loss} > {log.log} 2>&1"
