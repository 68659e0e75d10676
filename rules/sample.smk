# Stage 5: one generic rule keyed by (run, training seed, sampling seed): PNGs of the test set at each of the run's
# step counts (one subfolder per count) + seconds per image. One job per run, not per step count: the imports and the
# model load are paid once.


rule sample:
    input:
        unpack(sample_inputs),
    output:
        directory(f"{RESULTS}/samples/{{run}}/train{{tseed}}/seed{{seed}}"),
    params:
        cfg=lambda w: run_cfg_json(w.run),
        steps=run_steps,
        model=lambda w: model_dir(w.run, w.tseed),
        base=lambda w: base_dir(w.run, w.tseed),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/sample_{{run}}_train{{tseed}}_seed{{seed}}.log",
    threads: config["threads"]
    resources:
        **cluster_resources("sample"),
    benchmark:
        f"{BENCH}/sample_{{run}}_train{{tseed}}_seed{{seed}}.tsv"
    shell:
        "cddbench sample --config {params.cfg:q} --threads {threads} --run {wildcards.run}"
        " --steps {params.steps} --train-seed {wildcards.tseed} --seed {wildcards.seed} --test-pairs {input.pairs} --vae {input.vae}"
        " --teacher {input.teacher} --model {params.model} --base {params.base} --out {output} > {log} 2>&1"
