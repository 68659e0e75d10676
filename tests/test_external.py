"""methods.external: a model made elsewhere on the benchmark's protocol (a folder of outputs, or a diffusers pipeline)."""
import copy

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from cddbench import config, data
from cddbench.methods import Context, external

IDS = ("photo-a_0000", "photo-a_0001", "photo-b_0000")


def _outputs(folder, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = {i: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for i in IDS}
    folder.mkdir(exist_ok=True)
    for i, a in images.items():
        Image.fromarray(a).save(folder / f"{i}.png")
    return images


def _ctx(mcfg, ids=IDS):
    return Context(cfg={}, train_set="", vae_dir="", teacher_dir="", run="external", mcfg=mcfg, test_ids=ids)


def test_a_folder_of_outputs_is_served_in_test_set_order(tmp_path):
    images = _outputs(tmp_path / "out")
    sample = external.load(_ctx({"steps": [1], "samples": str(tmp_path / "out")}))
    lr = torch.zeros(2, 3, 4, 4)
    first, second = sample(lr, 1, None), sample(lr[:1], 1, None)  # batches in order, as cddbench.sample.run asks
    got = np.concatenate([data.to_uint8(first), data.to_uint8(second)])
    np.testing.assert_array_equal(got, np.stack([images[i] for i in IDS]))
    assert not external.timed({"samples": "x"}) and external.timed({"pipeline": "x"})


def test_bad_folders_are_errors_that_name_the_file(tmp_path):
    _outputs(tmp_path / "out")
    (tmp_path / "out" / f"{IDS[1]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=f"1 of 3 test images.*{IDS[1]}.png"):
        external.load(_ctx({"steps": [1], "samples": str(tmp_path / "out")}))
    (tmp_path / "out" / f"{IDS[1]}.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"{IDS[1]}.png is not a readable image"):
        external.load(_ctx({"steps": [1], "samples": str(tmp_path / "out")}))
    _outputs(tmp_path / "small", size=12)
    sample = external.load(_ctx({"steps": [1], "samples": str(tmp_path / "small")}))
    with pytest.raises(ValueError, match=f"{IDS[0]}.png is 12 x 12, the test image's 4x HR is 16 x 16"):
        sample(torch.zeros(1, 3, 4, 4), 1, None)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        external.load(_ctx({"steps": [1], "samples": str(tmp_path / "nowhere")}))
    with pytest.raises(FileNotFoundError, match="model_index.json does not exist"):
        external.load(_ctx({"steps": [1], "pipeline": str(tmp_path / "out")}))


def test_the_config_takes_exactly_one_source(repo):
    base = config.load(f"{repo}/config.yaml")
    ok = copy.deepcopy(base)
    ok["methods"]["external"] = {"steps": [4], "samples": "outputs/"}
    assert "external" in config.runs(config.validate(ok))
    for entry in ({"steps": [4]}, {"steps": [4], "samples": "a", "pipeline": "b"}):
        bad = copy.deepcopy(base)
        bad["methods"]["external"] = entry
        with pytest.raises(ValueError, match="invalid config at methods.external"):
            config.validate(bad)


def test_a_pipeline_folder_is_sampled_with_one_noise_stream_per_image(ts, repo, tmp_path):
    from conftest import save_tiny_job

    from cddbench.methods import cdd
    from cddbench.sample import initial_noise

    cfg = save_tiny_job(tmp_path, ts, repo)
    cfg["methods"]["cdd"]["train"] = {"steps": 2, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1}
    ctx = Context(cfg=cfg, train_set=str(tmp_path / "train_set.pt"), vae_dir=str(tmp_path / "vae"),
                  teacher_dir=str(tmp_path / "teacher"), run="cdd", mcfg=cfg["methods"]["cdd"])
    cdd.train(ctx, str(tmp_path / "cdd"), str(tmp_path / "cdd.csv"))  # writes the pipeline folder
    sample = external.load(_ctx({"steps": [4], "pipeline": str(tmp_path / "cdd")}))
    lr = torch.rand(3, 3, 4, 4) * 2 - 1
    noise = initial_noise(list(IDS), (4, 8, 8), seed=0)
    out = sample(lr, 4, noise)
    assert out.shape == (3, 3, 16, 16) and out.min() >= -1 and out.max() <= 1
    torch.testing.assert_close(sample(lr[1:], 4, noise[1:]), out[1:])  # per image, whatever the batch
    assert not torch.equal(sample(lr, 4, initial_noise(list(IDS), (4, 8, 8), seed=1)), out)
