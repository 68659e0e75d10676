import pytest

from cddbench import methods


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_registry_matches_module(name):
    module = methods.get(name)
    assert methods.trains(name) == hasattr(module, "train")
    assert callable(module.load) and callable(module.nfe) and isinstance(module.DISPLAY, str)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        methods.get("magic")
