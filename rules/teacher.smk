# Stage 3: the latent space and the pretrained unconditional teacher (trained here or loaded: teacher.pretrained).


rule autoencoder:
    input:
        train=f"{DATA}/patches/train",
        pretrained=pretrained_teacher_dir(),
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
        "cddbench autoencoder --config {params.cfg:q} --threads {threads} --train {input.train} --out {output}"
        " --checkpoints {params.checkpoints}"
        " --log {log.loss} > {log.log} 2>&1"


rule teacher:
    input:
        train=f"{DATA}/patches/train",
        vae=f"{MODELS}/autoencoder",
        pretrained=pretrained_teacher_dir(),
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


# Not part of the default DAG: configs/pretrain.yaml's target, the teacher the repository ships (model card included).
rule pretrained_teacher:
    input:
        vae=f"{MODELS}/autoencoder",
        teacher=f"{MODELS}/teacher",
        check=f"{RESULTS}/metrics/teacher_check.json",  # the model card's numbers
        report=f"{DATA}/patches/report.json",
        benchmarks=[f"{BENCH}/autoencoder.tsv", f"{BENCH}/teacher.tsv"],
    output:
        directory(f"{RESULTS}/pretrained/tiny-teacher"),
    params:
        cfg=cfg_json("seed", "device", "threads", "data", "autoencoder", "teacher"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/pretrained_teacher.log",
    threads: config["threads"]
    shell:
        "cddbench export-teacher --config {params.cfg:q} --threads {threads} --vae {input.vae}"
        " --teacher {input.teacher} --teacher-check {input.check}"
        " --patches-report {input.report} --benchmarks {input.benchmarks} --out {output} > {log} 2>&1"
