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
  ``LIMITS``                     (optional) what the schema cannot say about its ``methods`` entry: a list of
                                 ``(key to name, expression, "<=" | "<", bound expression)``, the expressions over
                                 the entry's keys (dotted: ``train.steps``), ``num_train_timesteps``, integers,
                                 ``+ - * **``, ``[i]`` and ``max()`` (``limit_value``: read, never executed)
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
    facts = {"seeded": None, "base": None, "stream": None, "limits": [], "trains": False}
    for node in tree.body:
        targets = ([t for a in node.targets for t in (a.elts if isinstance(a, ast.Tuple) else [a])]
                   if isinstance(node, ast.Assign) else [])
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.FunctionDef):
            names = {node.name}
        facts["trains"] |= "train" in names
        for key in ("SEEDED", "BASE", "STREAM", "LIMITS"):
            if key in names:
                facts[key.lower()] = ast.literal_eval(node.value)
    if facts["seeded"] is None:
        raise ValueError(f"methods/{name}.py: no SEEDED = True | False (is its output a function of the sampling "
                         f"seed?)")
    return facts


def limit_value(expression: str, m: dict, num_train_timesteps: int):
    """The value of a ``LIMITS`` expression over a methods entry, read from its syntax tree: names (dotted into
    sections), integers, + - * **, [i] and max(); anything else is an error naming it (no eval)."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return num_train_timesteps if node.id == "num_train_timesteps" else m[node.id]
        if isinstance(node, ast.Attribute):
            return value(node.value)[node.attr]
        if isinstance(node, ast.Subscript):
            return value(node.value)[value(node.slice)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "max":
            return max(value(node.args[0]))
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"LIMITS: {ast.unparse(node)!r} in {expression!r} is not a name, an integer, + - * **, "
                         "[i] or max()")
    return value(ast.parse(expression, mode="eval").body)


OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
             ast.Pow: lambda a, b: a**b}


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
    """``[(key under methods.<name>, what it must be)]``: the method's ``LIMITS`` that ``m`` breaks."""
    out = []
    for key, expression, op, bound in _entry(name)["limits"]:
        got, limit = (limit_value(e, m, num_train_timesteps) for e in (expression, bound))
        if not (got <= limit if op == "<=" else got < limit):
            what = "at most" if op == "<=" else "below"
            out.append((key, f"{expression} {what} {bound} ({limit}), got {got}"))
    return out
