# Stage 7: the papermill notebook renders Table 1 from the metric records (logic in cddbench.report);
# the claims report tests the paper's claims on those results (cddbench.claims).


rule table1:
    input:
        metrics=metric_files(),
        models=model_dirs(),
        gates=f"{RESULTS}/quality_gates.json",
        notebook="workflow/notebooks/table1.ipynb",
    output:
        csv=f"{RESULTS}/table1.csv",
        md=f"{RESULTS}/table1.md",
        runs=f"{RESULTS}/runs.csv",
        notebook=f"{RESULTS}/notebooks/table1.ipynb",
    params:
        # papermill parameters as data (YAML), never as code
        nb=lambda w, input, output: json.dumps({"metric_files": list(input.metrics), "model_dirs": list(input.models),
                                                "gates_json": input.gates, "out_csv": output.csv, "out_md": output.md,
                                                "out_runs": output.runs}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/table1.log",
    benchmark:
        f"{BENCH}/table1.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output"
        " -y {params.nb:q} > {log} 2>&1"


rule claims:
    input:
        f"{RESULTS}/runs.csv",
    output:
        csv=f"{RESULTS}/claims.csv",
        md=f"{RESULTS}/claims.md",
    params:
        cfg=cfg_json("seed"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/claims.log",
    shell:
        "cddbench claims --config {params.cfg:q} --runs {input} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule degradation_figure:
    input:
        patches=f"{DATA}/patches/test",
        notebook="workflow/notebooks/degradations.ipynb",
    output:
        png=f"{RESULTS}/figures/degradations.png",
        notebook=f"{RESULTS}/notebooks/degradations.ipynb",
    params:
        nb=lambda w, input, output: json.dumps({"patches_dir": input.patches, "degradation": config["degradation"],
                                                "seed": config["seed"], "out_png": output.png}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/degradation_figure.log",
    benchmark:
        f"{BENCH}/degradation_figure.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output -y {params.nb:q} > {log} 2>&1"
