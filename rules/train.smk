# Stage 4: every run that trains (one generic rule; the method module does the work), on the training pairs
# encoded once.


rule encode_train:
    input:
        pairs=f"{DATA}/pairs/train",
        vae=f"{MODELS}/autoencoder",
    output:
        f"{DATA}/train_set.pt",
    params:
        cfg=cfg_json("device", "threads"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/encode_train.log",
    threads: config["threads"]
    resources:
        **cluster_resources("train"),
    benchmark:
        f"{BENCH}/encode_train.tsv"
    shell:
        "cddbench encode-train --config {params.cfg:q} --threads {threads} --train-pairs {input.pairs}"
        " --vae {input.vae} --out {output} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        directory(f"{MODELS}/{{run}}/train{{tseed}}"),
    params:
        cfg=lambda w: run_cfg_json(w.run),
        base=lambda w: base_dir(w.run, w.tseed),
        checkpoints=lambda w: f"{CHECKPOINTS}/{w.run}/train{w.tseed}",
    conda:
        CONDA_ENV
    log:
        log=f"{LOGS}/train_{{run}}_train{{tseed}}.log",
        loss=f"{LOGS}/train_{{run}}_train{{tseed}}.loss.csv",
    threads: config["threads"]
    resources:
        **cluster_resources("train"),
    benchmark:
        f"{BENCH}/train_{{run}}_train{{tseed}}.tsv"
    shell:
        "cddbench train --config {params.cfg:q} --threads {threads} --run {wildcards.run} --train-seed {wildcards.tseed}"
        " --train-set {input.train_set} --vae {input.vae} --teacher {input.teacher} --base {params.base} --out {output} --log {log.loss}"
        " --checkpoints {params.checkpoints} > {log.log} 2>&1"
