import subprocess
import sys


def test_package_makes_diffusers_lpips_cleanfid_importable():
    """torchvision 0.28.0 is a CUDA build whose ops are missing on CPU torch: the package shim must fix that."""
    code = ("import cddbench, diffusers, lpips, cleanfid, torchvision\n"
            "from diffusers import UNet2DModel, UNet2DConditionModel, AutoencoderKL, ControlNetModel\n"
            "assert torchvision.models.alexnet().features is not None\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_the_snakefile_parse_and_the_light_modules_import_no_torch(repo):
    """config validation (the Snakefile's parse: schema, photo list, the shipped teacher's provenance), the method
    registry and the paper's tables import no torch or diffusers; torchvision still imports afterwards (the shim
    runs before its first import)."""
    code = ("import sys, yaml; from cddbench import config, methods, paper, provenance, photos, data; "
            f"cfg = config.validate(yaml.safe_load(open('{repo}/config.yaml'))); config.runs(cfg); "
            "heavy = [m for m in ('torch', 'diffusers', 'lpips', 'cleanfid') if m in sys.modules]; "
            "assert not heavy, heavy; import diffusers.models, lpips, torchvision; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# The package's layers, low to high: a module imports its own layer (without circles) or lower ones. A new module
# must be placed here (the test names it).
LAYERS = [
    {"cddbench", "_torchvision_shim", "schedule", "models", "metrics", "photos", "paper", "realesrgan_degradation",
     "train", "methods", "toy"},  # algebra, networks, metrics, tables, the training loop, the registry, the toy problem
    {"data", "provenance", "config", "degrade", "pipeline"},  # data, configs, the diffusers pipeline
    {"methods.*"},  # one module per method, and their shared pieces (methods/common.py)
    {"sample", "evaluate", "paired", "pretrain", "quality", "figures", "claims", "report", "metric_validation",
     "speed", "gpucheck", "known_answer"},  # the stages the rules run
    {"cli"},  # one function per rule
]


def _import_graph(repo) -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, at module level or inside a function."""
    import ast
    import os

    root = os.path.join(repo, "workflow", "cddbench")
    modules = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), root)[:-3].replace(os.sep, ".")
                modules[rel.removesuffix("__init__").rstrip(".") or "cddbench"] = os.path.join(folder, f)
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cddbench"):
                base = node.module.removeprefix("cddbench").lstrip(".") or "cddbench"
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base != "cddbench" else alias.name
                    deps.add(sub if sub in modules else base)
            elif isinstance(node, ast.Import):
                deps |= {a.name.removeprefix("cddbench.") for a in node.names if a.name.startswith("cddbench")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _layer(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer or (name.startswith("methods.") and "methods.*" in layer):
            return i
    raise AssertionError(f"cddbench.{name} has no layer in tests/test_imports.py LAYERS: place it")


def test_the_package_has_no_import_circles_and_no_upward_imports(repo):
    graph = _import_graph(repo)
    assert len(graph) > 30 and "methods.cdd" in graph and "pipeline" in graph["methods.cdd"]  # the reader reads
    upward = sorted((a, b) for a, deps in graph.items() for b in deps if _layer(b) > _layer(a))
    assert upward == []
    seen, done = [], set()

    def visit(node):  # depth-first: a node met again on the current path closes a circle
        if node in seen:
            raise AssertionError("import circle: " + " -> ".join(seen[seen.index(node):] + [node]))
        if node in done:
            return
        seen.append(node)
        for dep in sorted(graph[node]):
            visit(dep)
        seen.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)
