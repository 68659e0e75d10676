# Stage 5: one generic rule keyed by (method, steps, seed): PNGs of the test set + seconds per image.


rule sample:
    input:
        unpack(sample_inputs),
    output:
        directory(f"{RESULTS}/samples/{{method}}/{{steps}}/seed{{seed}}"),
    params:
        cfg=lambda w: method_cfg_json(w.method),
        model=lambda w: model_dir(w.method),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/sample_{{method}}_{{steps}}_seed{{seed}}.log",
    threads: config["threads"]
    benchmark:
        f"{BENCH}/sample_{{method}}_{{steps}}_seed{{seed}}.tsv"
    shell:
        "cddbench sample --config {params.cfg:q} --threads {threads} --method {wildcards.method}"
        " --steps {wildcards.steps} --seed {wildcards.seed} --test-pairs {input.pairs} --vae {input.vae}"
        " --teacher {input.teacher} --model {params.model} --out {output} > {log} 2>&1"
