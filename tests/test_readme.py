import re


def test_ci_runs_the_readme_test_command(repo):
    readme = open(f"{repo}/README.md").read()
    blocks = re.findall(r"```bash\n(.*?)```", readme.split("## Quick start")[1].split("\n## ")[0], re.S)
    commands = [line for b in blocks for line in b.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert commands[0].endswith("snakemake --cores all results/table1.csv")
    assert commands[1] in open(f"{repo}/.ci/run").read()


def test_readme_cdd_snippet_matches_the_benchmark_sampler(repo, tmp_path, monkeypatch):
    """The README's three lines, run on a tiny saved CDD run folder, give the benchmark sampler's PNG bit for bit."""
    import numpy as np
    import torch
    import yaml
    from PIL import Image

    from cddbench import data, models  # first: installs the torchvision shim diffusers needs
    from cddbench.methods import Context, cdd
    from cddbench.pipeline import save_pipeline_folder
    from diffusers import AutoencoderKL, DDPMScheduler

    code = re.search(r"<!-- snippet: cdd-sr -->\n```python\n(.*?)```", open(f"{repo}/README.md").read(), re.S)[1]
    assert len(code.strip().splitlines()) == 3
    torch.manual_seed(0)
    unet = models.build_unet(dict(block_out_channels=[16, 32], layers_per_block=1, attention_levels=1,
                                  cross_attention_dim=8, attention_head_dim=8, norm_num_groups=8), 8, 4)
    adapted = models.AdaptedUNet.from_unet(unet, 3)
    with torch.no_grad():  # a non-trivial encoder, so the check covers the ControlNet path
        for p in adapted.controlnet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    vae = AutoencoderKL(block_out_channels=(8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 3,
                        up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=8,
                        layers_per_block=1)
    run = tmp_path / "results/models/cdd/train0"
    adapted.save(str(run))
    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                          prediction_type="v_prediction", clip_sample=False)
    sched.save_pretrained(str(run / "scheduler"))
    vae.save_pretrained(str(tmp_path / "results/models/autoencoder"))
    mcfg = yaml.safe_load(open(f"{repo}/config.yaml"))["methods"]["cdd"]
    save_pipeline_folder(str(run), str(tmp_path / "results/models/autoencoder"), vae, adapted, sched,
                         mcfg["distill_steps"], mcfg["consistency_space"])
    lr = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "lr.png")
    monkeypatch.chdir(tmp_path)
    scope = {"Image": Image, "torch": torch}
    exec(code, scope)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # what the generator draws
    ctx = Context(cfg={}, train_set="", vae_dir="results/models/autoencoder", teacher_dir="", mcfg=mcfg)
    expected = data.to_uint8(cdd.load(ctx, str(run))(data.to_tensor([lr]), 4, noise))[0]
    assert scope["hr"].size == (32, 32)
    np.testing.assert_array_equal(np.asarray(scope["hr"]), expected)
