"""Safe loading: nothing from a config or results folder is unpickled or evaluated as code."""
import ast
import pathlib
import re

import pytest
import torch

from cddbench.train import Checkpoint, fit

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "workflow" / "cddbench"


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            yield (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""), node


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_unsafe_loading_in_the_package(path):
    tree = ast.parse(path.read_text())
    for name, node in _calls(tree):
        builtin = isinstance(node.func, ast.Name)  # eval(...), not model.eval()
        assert not (builtin and name in ("eval", "exec", "compile", "__import__")), f"{path.name}:{node.lineno}: {name}()"
        if name == "load" and ast.unparse(node.func).startswith("torch."):
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            assert kw.get("weights_only") == "True", f"{path.name}:{node.lineno}: torch.load without weights_only=True"
        if name == "load" and ast.unparse(node.func).startswith("yaml."):
            pytest.fail(f"{path.name}:{node.lineno}: yaml.load (use yaml.safe_load)")
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])}
    assert not imported & {"pickle", "dill", "cloudpickle", "marshal", "shelve"}, path.name


def test_papermill_parameters_are_passed_as_yaml_data(repo):
    rules = "".join(p.read_text() for p in pathlib.Path(repo, "rules").glob("*.smk"))
    calls = re.findall(r'"papermill [^\n]*\n[^\n]*', rules)
    assert calls and all("-y {params.nb:q}" in c and " -p " not in c for c in calls)


class _Payload:
    def __reduce__(self):  # what a crafted pickle would run on load
        return (pathlib.Path.touch, (pathlib.Path("/tmp/cddbench-pwned"),))


def test_a_crafted_checkpoint_is_refused_not_executed(tmp_path):
    marker = pathlib.Path("/tmp/cddbench-pwned")
    marker.unlink(missing_ok=True)
    torch.save({"key": "k", "step": 1, "payload": _Payload()}, tmp_path / "ck.pt")
    model = torch.nn.Linear(2, 1)
    tcfg = dict(steps=2, batch_size=2, lr=1e-3, ema_decay=0.0, log_every=1)
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        fit(model, lambda idx, step: {"loss": model(torch.ones(2, 2)).sum()}, tcfg, 4, 0, str(tmp_path / "log.csv"),
            "crafted", checkpoint=Checkpoint(str(tmp_path / "ck.pt"), 1, "k"))
    assert not marker.exists()
