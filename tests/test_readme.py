import re


def test_ci_runs_the_readme_test_command(repo):
    readme = open(f"{repo}/README.md").read()
    blocks = re.findall(r"```bash\n(.*?)```", readme.split("## Quick start")[1].split("\n## ")[0], re.S)
    commands = [line for b in blocks for line in b.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert commands[0].endswith("snakemake --cores all results/table1.csv")
    assert commands[1] in open(f"{repo}/.ci/run").read()


def test_readme_cdd_snippet_matches_the_pipeline_sampler(repo, tmp_path, monkeypatch):
    """The README's plain-diffusers 4-step SR block, run on tiny saved models, equals ``methods.cdd``'s sampler."""
    import torch
    import yaml

    from cddbench import models  # first: installs the torchvision shim diffusers needs
    from cddbench.methods import Context, cdd
    from diffusers import AutoencoderKL, DDPMScheduler

    code = re.search(r"<!-- snippet: cdd-sr -->\n```python\n(.*?)```", open(f"{repo}/README.md").read(), re.S)[1]
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
    adapted.save(str(tmp_path / "results/models/cdd/train0"))
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type="v_prediction",
                  clip_sample=False).save_pretrained(str(tmp_path / "results/models/cdd/train0/scheduler"))
    vae.save_pretrained(str(tmp_path / "results/models/autoencoder"))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(1)
    scope = {}
    exec(code, scope)
    torch.manual_seed(1)  # the snippet's own draws, replayed for the pipeline sampler
    lr, noise = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 4, 8, 8)
    mcfg = yaml.safe_load(open(f"{repo}/config.yaml"))["methods"]["cdd"]
    ctx = Context(cfg={}, train_set="", vae_dir="results/models/autoencoder", teacher_dir="", mcfg=mcfg)
    expected = cdd.load(ctx, "results/models/cdd/train0")(lr, 4, noise)
    assert scope["hr"].shape == (4, 3, 32, 32)
    torch.testing.assert_close(scope["hr"], expected, rtol=1e-4, atol=1e-4)
