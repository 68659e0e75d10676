# Stage 7: the papermill notebook renders Table 1 from the metric records (logic in cddbench.report).


rule table1:
    input:
        metrics=metric_files(),
        models=[model_dir(m) for m in config["methods"] if _methods.trains(m)],
        gates=f"{RESULTS}/quality_gates.json",
        notebook="workflow/notebooks/table1.ipynb",
    output:
        csv=f"{RESULTS}/table1.csv",
        md=f"{RESULTS}/table1.md",
        notebook=f"{RESULTS}/notebooks/table1.ipynb",
    params:
        metrics=f"{RESULTS}/metrics",
        models=MODELS,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/table1.log",
    benchmark:
        f"{BENCH}/table1.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output"
        " -p metrics_dir {params.metrics} -p models_dir {params.models} -p gates_json {input.gates}"
        " -p out_csv {output.csv} -p out_md {output.md} > {log} 2>&1"
