"""One module per method, each with the same face.

A method module defines:
  ``DISPLAY``                    the row name in Table 1
  ``train(ctx, out_dir, log_csv)`` fit the method's weights into ``out_dir``, the loss curve into ``log_csv``
                                 (omit for training-free methods)
  ``load(ctx, model_dir)``       return a sampler ``(lr, steps, noise) -> hr`` (tensors in [-1, 1])
  ``nfe(steps)``                 network evaluations per image at that step count
  ``NOTE``                       (optional) a caveat about its row, printed under the table
  ``timed(mcfg)``                (optional) False when sampling time is not the model's latency (outputs read from
                                 a folder: methods/external.py); ``ctx.test_ids`` names the images being sampled
and the facts the Snakefile needs at parse time, read from its source (below) so that planning a DAG imports
neither torch nor diffusers:
  ``SEEDED``                     False for a deterministic method: sampled once, not once per sampling seed
  ``BASE``                       (optional) the run whose trained model it samples or distils (the rules pass that
                                 run's model folder as ``ctx.base_dir``)
  ``STREAM``                     (optional) its training random stream, an offset from the train seed
                                 (``train.stream``; distinct across methods, tests/test_methods.py)
  ``check_config(m, T)``         (optional) what the schema cannot say about its ``methods`` entry ``m`` (T: the
                                 schedule's num_train_timesteps): ``[(key, what it must be)]``. Pure Python over the
                                 dict: it runs compiled alone from the module's source, any import inside it.
Whether it trains is whether it defines ``train``.
A sampler's ``noise`` is the per-image initial noise; a sampler that needs more draws takes them with
``methods.common.more_noise`` (seeded by that noise, so still one stream per (seed, image)).
A new method is a new module here and its entry under ``methods:`` in the config (and the schema); a *run* is a
method with its config; ``variants:`` adds runs that change one key (``cddbench.config.runs``).
"""
from __future__ import annotations

import ast
import importlib
import os
from dataclasses import dataclass

HERE = os.path.dirname(__file__)
NOT_METHODS = {"__init__", "common"}  # the package's own modules: this registry and the shared pieces


def _read_facts(name: str) -> dict:
    """A method's parse-time facts from its module's source, without importing it (``ast``: torch and diffusers
    take seconds to import, and every ``snakemake`` call reads the registry)."""
    path = os.path.join(HERE, f"{name}.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    facts = {"seeded": None, "base": None, "stream": None, "trains": False, "check_config": None}
    for node in tree.body:
        targets = ([t for a in node.targets for t in (a.elts if isinstance(a, ast.Tuple) else [a])]
                   if isinstance(node, ast.Assign) else [])
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.FunctionDef):
            names = {node.name}
        facts["trains"] |= "train" in names
        for key in ("SEEDED", "BASE", "STREAM"):
            if key in names:
                facts[key.lower()] = ast.literal_eval(node.value)
        if isinstance(node, ast.FunctionDef) and node.name == "check_config":
            scope: dict = {}
            exec(compile(ast.Module([node], type_ignores=[]), path, "exec"), scope)
            facts["check_config"] = scope["check_config"]
    if facts["seeded"] is None:
        raise ValueError(f"methods/{name}.py: no SEEDED = True | False (is its output a function of the sampling "
                         f"seed?)")
    return facts


METHODS = {name: _read_facts(name) for name in sorted(f[:-3] for f in os.listdir(HERE)
                                                     if f.endswith(".py") and f[:-3] not in NOT_METHODS)}


@dataclass
class Context:
    """What a method may read: the config, its run's name and resolved entry, the paths of the stages before it."""
    cfg: dict
    train_set: str            # the encoded training pairs (``methods.common.encode_training_set``)
    vae_dir: str
    teacher_dir: str
    device: str = "cpu"
    run: str = ""
    mcfg: dict | None = None  # the run's resolved ``methods`` entry (variants applied)
    base_dir: str = ""        # the model folder of the run this method builds on (``base`` in METHODS)
    checkpoint_dir: str = ""  # where training checkpoints go ("": none); kept until the job has finished
    train_seed: int = 0       # seeds model init, batch order and every training random stream (config train_seeds)
    test_ids: tuple = ()      # the test images' ids in sampling order (set by cddbench.sample.run; methods.external)


def get(name: str):
    _entry(name)
    return importlib.import_module(f"cddbench.methods.{name}")


def _entry(name: str) -> dict:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")
    return METHODS[name]


def trains(name: str) -> bool:
    return _entry(name)["trains"]


def base(name: str) -> str | None:
    """The run whose trained model this method samples or distils (None: it starts from the teacher)."""
    return _entry(name).get("base")


def seeded(name: str) -> bool:
    """False for deterministic methods: sampled once, not once per seed."""
    return _entry(name)["seeded"]


def config_problems(name: str, m: dict, num_train_timesteps: int) -> list[tuple[str, str]]:
    """``[(key under methods.<name>, what it must be)]`` from the method's ``check_config`` (none without one)."""
    check = _entry(name)["check_config"]
    return check(m, num_train_timesteps) if check else []


def step_problems(m: dict, T: int, grid: str | None = None) -> list[tuple[str, str]]:
    """The step counts of a diffusion sampler: within num_train_timesteps ``T``; with a ``grid`` key (a distilled
    model's grid size: ``distill_steps``, ``denoising_steps``), the grid within T and the steps within the grid."""
    out = []
    if max(m["steps"]) > T:
        out.append(("steps", f"at most num_train_timesteps ({T}), got {max(m['steps'])}"))
    if grid:
        if m[grid] > T:
            out.append((grid, f"at most num_train_timesteps ({T})"))
        if max(m["steps"]) > m[grid]:
            out.append(("steps", f"at most {grid} ({m[grid]}): sampling runs on the model's grid"))
    return out
