# Stage 6: metrics. Standard FID/KID/LPIPS when evaluate.weights_dir holds the weights, labelled proxies otherwise.


rule reference_features:
    input:
        pairs=f"{DATA}/pairs/test",
        weights=metric_weights,
    output:
        npz=f"{RESULTS}/metrics/reference.npz",
        floor=f"{RESULTS}/metrics/reference_floor.json",
    params:
        cfg=cfg_json("seed", "threads", "device", "evaluate"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/reference_features.log",
    threads: config["threads"]
    resources:
        **cluster_resources("evaluate"),
    benchmark:
        f"{BENCH}/reference_features.tsv"
    shell:
        "cddbench reference --config {params.cfg:q} --threads {threads} --test-pairs {input.pairs}"
        " --out {output.npz} --floor {output.floor} > {log} 2>&1"


rule evaluate:
    # one job per sampling job: each step count's folder -> <steps>.json (+ .npz: per-image and leave-one-photo-out values)
    input:
        samples=f"{RESULTS}/samples/{{run}}/train{{tseed}}/seed{{seed}}",
        pairs=f"{DATA}/pairs/test",
        ref=f"{RESULTS}/metrics/reference.npz",
        weights=metric_weights,
    output:
        directory(f"{RESULTS}/metrics/{{run}}/train{{tseed}}/seed{{seed}}"),
    params:
        cfg=cfg_json("seed", "threads", "device", "evaluate"),
        steps=run_steps,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/evaluate_{{run}}_train{{tseed}}_seed{{seed}}.log",
    threads: config["threads"]
    resources:
        **cluster_resources("evaluate"),
    benchmark:
        f"{BENCH}/evaluate_{{run}}_train{{tseed}}_seed{{seed}}.tsv"
    shell:
        "cddbench evaluate --config {params.cfg:q} --threads {threads} --samples {input.samples} --steps {params.steps}"
        " --test-pairs {input.pairs} --reference {input.ref} --out {output} > {log} 2>&1"


rule metric_validation:
    # what each metric rewards and penalises: graded distortions of the HR test set, scored like a sample folder
    input:
        pairs=f"{DATA}/pairs/test",
        ref=f"{RESULTS}/metrics/reference.npz",
        weights=metric_weights,
    output:
        csv=f"{RESULTS}/metric_validation.csv",
        png=report(f"{RESULTS}/figures/metric_validation.png", caption="../workflow/report/metric_validation.rst",
                   category="Metrics"),
    params:
        cfg=cfg_json("seed", "threads", "device", "evaluate"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/metric_validation.log",
    threads: config["threads"]
    resources:
        **cluster_resources("evaluate"),
    benchmark:
        f"{BENCH}/metric_validation.tsv"
    shell:
        "cddbench validate-metrics --config {params.cfg:q} --threads {threads} --test-pairs {input.pairs}"
        " --reference {input.ref} --out {output.csv} --figure {output.png} > {log} 2>&1"


rule teacher_check:
    # the model side of the quality gates, as soon as the autoencoder and the teacher exist (not at the DAG's end)
    input:
        pairs=f"{DATA}/pairs/test",
        train=f"{DATA}/patches/train",
        vae=f"{MODELS}/autoencoder",
        teacher=f"{MODELS}/teacher",
        ref=f"{RESULTS}/metrics/reference.npz",
        weights=metric_weights,
    output:
        json=f"{RESULTS}/metrics/teacher_check.json",
        grid=report(f"{RESULTS}/figures/teacher_samples.png", caption="../workflow/report/teacher.rst",
                    category="Data"),
    params:
        cfg=cfg_json("seed", "threads", "device", "evaluate", "teacher", "sampler"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/teacher_check.log",
    threads: config["threads"]
    resources:
        **cluster_resources("evaluate"),
    benchmark:
        f"{BENCH}/teacher_check.tsv"
    shell:
        "cddbench teacher-check --config {params.cfg:q} --threads {threads} --test-pairs {input.pairs}"
        " --train-patches {input.train} --vae {input.vae} --teacher {input.teacher} --reference {input.ref}"
        " --out {output.json} --grid {output.grid} > {log} 2>&1"


rule quality_gates:
    input:
        teacher=f"{RESULTS}/metrics/teacher_check.json",
        floor=f"{RESULTS}/metrics/reference_floor.json",
        metrics=metric_dirs(),
    output:
        gates=f"{RESULTS}/quality_gates.json",
    params:
        cfg=cfg_json("seed"),
        records=metric_files(),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/quality_gates.log",
    benchmark:
        f"{BENCH}/quality_gates.tsv"
    shell:
        "cddbench quality-gates --config {params.cfg:q} --teacher-check {input.teacher} --floor {input.floor}"
        " --out {output.gates} --metrics {params.records} > {log} 2>&1"


rule download_metric_weights:
    # Needs network: run once on a machine that has it, then copy the folder (offline it fails, naming the URL).
    output:
        directory(config["evaluate"]["weights_dir"]),
    params:
        cfg=cfg_json("evaluate"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/download_metric_weights.log",
    shell:
        "cddbench download-weights --config {params.cfg:q} > {log} 2>&1"
