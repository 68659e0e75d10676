"""cddbench.pipeline: a trained CDD run folder is a diffusers pipeline whose output equals the benchmark's samples."""
import numpy as np
import pytest
import torch
from PIL import Image

from cddbench.methods import Context

TINY = {"steps": 2, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1}


@pytest.fixture(scope="module")
def run(ts, repo, tmp_path_factory):
    """A CDD run trained for two steps by ``methods.cdd.train`` (which writes the pipeline folder), and its context."""
    from conftest import save_tiny_job

    from cddbench.methods import cdd

    root = tmp_path_factory.mktemp("pipeline")
    cfg = save_tiny_job(root, ts, repo)
    cfg["methods"]["cdd"]["train"] = TINY
    ctx = Context(cfg=cfg, train_set=str(root / "train_set.pt"), vae_dir=str(root / "vae"),
                  teacher_dir=str(root / "teacher"), run="cdd", mcfg=cfg["methods"]["cdd"])
    cdd.train(ctx, str(root / "cdd"), str(root / "cdd.csv"))
    with torch.no_grad():  # a non-trivial encoder (two steps barely move the zero convolutions)
        from cddbench import models

        net = models.AdaptedUNet.load(str(root / "cdd"))
        for p in net.controlnet.parameters():
            p.add_(0.05 * torch.randn_like(p))
        net.save(str(root / "cdd"))
    return root / "cdd", ctx


def _lr(n=3, size=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_the_pipeline_output_equals_the_benchmark_samples_bit_for_bit(run):
    from cddbench import data
    from cddbench.methods import cdd
    from cddbench.pipeline import CDDSuperResolutionPipeline

    folder, ctx = run
    pipe = CDDSuperResolutionPipeline.from_pretrained(str(folder))
    lr = _lr()
    noise = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    out = pipe(image=[Image.fromarray(a) for a in lr], num_inference_steps=4, latents=noise).images
    expected = data.to_uint8(cdd.load(ctx, str(folder))(data.to_tensor(lr), 4, noise))
    assert [im.size for im in out] == [(16, 16)] * 3
    np.testing.assert_array_equal(np.stack([np.asarray(im) for im in out]), expected)
    # the same from a uint8 batch and from the benchmark's tensor convention
    for image in (lr, data.to_tensor(lr)):
        again = pipe(image=image, num_inference_steps=4, latents=noise).images
        np.testing.assert_array_equal(np.stack([np.asarray(im) for im in again]), expected)


def test_generator_output_types_and_step_counts(run):
    from cddbench.pipeline import CDDSuperResolutionPipeline

    pipe = CDDSuperResolutionPipeline.from_pretrained(str(run[0]))
    lr = Image.fromarray(_lr(1)[0])

    def call(seed, steps=4, **kw):
        return pipe(image=lr, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), **kw).images

    assert np.array_equal(np.asarray(call(0)[0]), np.asarray(call(0)[0]))
    assert not np.array_equal(np.asarray(call(0)[0]), np.asarray(call(1)[0]))  # the generator draws the noise
    a = call(0, output_type="np")
    assert a.shape == (1, 16, 16, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1  # diffusers' np
    assert call(0, output_type="pt").shape == (1, 3, 16, 16)
    assert not np.array_equal(np.asarray(call(0, steps=1)[0]), np.asarray(call(0, steps=8)[0]))
    with pytest.raises(ValueError, match="sampling steps"):
        call(0, steps=51)  # beyond the N = 50 distillation grid


def test_bad_inputs_are_errors_that_name_the_problem(run):
    from cddbench.pipeline import CDDSuperResolutionPipeline

    pipe = CDDSuperResolutionPipeline.from_pretrained(str(run[0]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        pipe(image=torch.rand(1, 3, 4, 4) * 3)
    with pytest.raises(ValueError, match="uint8"):
        pipe(image=np.zeros((4, 4, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="share a size"):
        pipe(image=[Image.new("RGB", (4, 4)), Image.new("RGB", (8, 8))])
    with pytest.raises(ValueError, match="latents: expected shape"):
        pipe(image=Image.new("RGB", (4, 4)), latents=torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match="output_type"):
        pipe(image=Image.new("RGB", (4, 4)), output_type="jpeg")
