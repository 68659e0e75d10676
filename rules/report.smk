# Stage 7: papermill notebooks render Table 1 and the figures from the result files (logic in cddbench.report and
# cddbench.figures); the claims report tests the paper's claims on those results (cddbench.claims). Outputs marked
# report(...) go into `snakemake --report results/report.html` with the captions in workflow/report/.


rule table1:
    input:
        metrics=metric_dirs(),
        models=model_dirs(),
        gates=f"{RESULTS}/quality_gates.json",
        notebook="workflow/notebooks/table1.ipynb",
    output:
        csv=report(f"{RESULTS}/table1.csv", caption="../workflow/report/table1.rst", category="Table 1"),
        md=f"{RESULTS}/table1.md",
        runs=report(f"{RESULTS}/runs.csv", caption="../workflow/report/runs.rst", category="Table 1"),
        notebook=f"{RESULTS}/notebooks/table1.ipynb",
    params:
        # papermill parameters as data (YAML), never as code
        nb=lambda w, input, output: json.dumps({"metric_files": metric_files(), "model_dirs": list(input.models),
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
        metrics=metric_dirs(),
    output:
        csv=report(f"{RESULTS}/claims.csv", caption="../workflow/report/claims.rst", category="Claims"),
        comparisons=f"{RESULTS}/claims_comparisons.csv",
        md=f"{RESULTS}/claims.md",
        peers=f"{RESULTS}/peers.md",  # the peers beyond the paper against Ours (configs/peers.yaml)
    params:
        cfg=cfg_json("seed"),
        records=metric_files(),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/claims.log",
    shell:
        "cddbench claims --config {params.cfg:q} --metrics {params.records} --out-csv {output.csv}"
        " --out-comparisons {output.comparisons} --out-md {output.md} --out-peers {output.peers} > {log} 2>&1"


rule degradation_figure:
    input:
        crops=f"{DATA}/crops/test",
        notebook="workflow/notebooks/degradations.ipynb",
    output:
        png=report(f"{RESULTS}/figures/degradations.png", caption="../workflow/report/degradations.rst",
                   category="Data"),
        notebook=f"{RESULTS}/notebooks/degradations.ipynb",
    params:
        nb=lambda w, input, output: json.dumps({"crops_dir": input.crops, "degradation": config["degradation"],
                                                "seed": config["seed"], "out_png": output.png}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/degradation_figure.log",
    benchmark:
        f"{BENCH}/degradation_figure.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output -y {params.nb:q} > {log} 2>&1"


rule ablation_figures:
    input:
        runs=f"{RESULTS}/runs.csv",
        floor=f"{RESULTS}/metrics/reference_floor.json",
        notebook="workflow/notebooks/ablations.ipynb",
    output:
        csv=report(f"{RESULTS}/ablations.csv", caption="../workflow/report/ablations.rst", category="Ablations"),
        fig5=report(f"{RESULTS}/figures/fig5_ablations.png", caption="../workflow/report/fig5.rst",
                    category="Ablations"),
        fig3=report(f"{RESULTS}/figures/fig3_distance.png", caption="../workflow/report/fig3.rst",
                    category="Ablations"),
        notebook=f"{RESULTS}/notebooks/ablations.ipynb",
    params:
        nb=lambda w, input, output: json.dumps({"runs_csv": input.runs, "reference_floor": input.floor,
                                                "out_csv": output.csv, "fig5_png": output.fig5,
                                                "fig3_png": output.fig3}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/ablation_figures.log",
    benchmark:
        f"{BENCH}/ablation_figures.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output -y {params.nb:q} > {log} 2>&1"


rule qualitative_figures:
    input:
        pairs=f"{DATA}/pairs/test",
        samples=figure_samples,
        notebook="workflow/notebooks/qualitative.ipynb",
    output:
        fig6=report(f"{RESULTS}/figures/fig6_qualitative.png", caption="../workflow/report/fig6.rst",
                    category="Qualitative"),
        fig3=report(f"{RESULTS}/figures/fig3_distance_grid.png", caption="../workflow/report/fig3_grid.rst",
                    category="Qualitative"),
        notebook=f"{RESULTS}/notebooks/qualitative.ipynb",
    params:
        nb=lambda w, input, output: json.dumps({"test_pairs": input.pairs, "fig6_dirs": fig6_dirs(),
                                                "fig3_dirs": fig3_dirs(), "fig6_png": output.fig6,
                                                "fig3_grid_png": output.fig3}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/qualitative_figures.log",
    benchmark:
        f"{BENCH}/qualitative_figures.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output -y {params.nb:q} > {log} 2>&1"


rule pareto_figure:
    input:
        runs=f"{RESULTS}/runs.csv",
        notebook="workflow/notebooks/pareto.ipynb",
    output:
        png=report(f"{RESULTS}/figures/pareto.png", caption="../workflow/report/pareto.rst", category="Table 1"),
        notebook=f"{RESULTS}/notebooks/pareto.ipynb",
    params:
        nb=lambda w, input, output: json.dumps({"runs_csv": input.runs, "out_png": output.png}),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/pareto_figure.log",
    benchmark:
        f"{BENCH}/pareto_figure.tsv"
    shell:
        "papermill {input.notebook} {output.notebook} -k python3 --cwd . --log-output -y {params.nb:q} > {log} 2>&1"


rule figures:
    # every figure and the claims report: `snakemake --cores all figures`
    input:
        f"{RESULTS}/figures/fig5_ablations.png",
        f"{RESULTS}/figures/fig3_distance.png",
        f"{RESULTS}/figures/fig3_distance_grid.png",
        f"{RESULTS}/figures/fig6_qualitative.png",
        f"{RESULTS}/figures/pareto.png",
        f"{RESULTS}/figures/degradations.png",
        f"{RESULTS}/claims.md",
