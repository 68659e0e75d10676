# Stage 3: the latent space and the pretrained unconditional teacher (trained here or loaded: teacher.pretrained).


rule autoencoder:
    input:
        f"{DATA}/patches/train",
    output:
        directory(f"{MODELS}/autoencoder"),
    params:
        cfg=cfg_json("seed", "device", "precision", "threads", "checkpoint_every", "autoencoder", "teacher"),
        checkpoints=f"{CHECKPOINTS}/autoencoder",
    conda:
        CONDA_ENV
    log:
        log=f"{LOGS}/autoencoder.log",
        loss=f"{LOGS}/autoencoder.loss.csv",
    threads: config["threads"]
    resources:
        **cluster_resources("train"),
    benchmark:
        f"{BENCH}/autoencoder.tsv"
    shell:
        "cddbench autoencoder --config {params.cfg:q} --threads {threads} --train {input} --out {output}"
        " --checkpoints {params.checkpoints}"
        " --log {log.loss} > {log.log} 2>&1"


rule teacher:
    input:
        train=f"{DATA}/patches/train",
        vae=f"{MODELS}/autoencoder",
    output:
        directory(f"{MODELS}/teacher"),
    params:
        cfg=cfg_json("seed", "device", "precision", "threads", "checkpoint_every", "teacher"),
        checkpoints=f"{CHECKPOINTS}/teacher",
    conda:
        CONDA_ENV
    log:
        log=f"{LOGS}/teacher.log",
        loss=f"{LOGS}/teacher.loss.csv",
    threads: config["threads"]
    resources:
        **cluster_resources("train"),
    benchmark:
        f"{BENCH}/teacher.tsv"
    shell:
        "cddbench teacher --config {params.cfg:q} --threads {threads} --train {input.train} --vae {input.vae}"
        " --out {output} --log {log.loss} --checkpoints {params.checkpoints} > {log.log} 2>&1"
