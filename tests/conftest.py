import os

# Never touch the network in tests: a hub lookup must fail at once, not after retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(items):
    """The end-to-end DAG runs last (a stable sort): the fast tests' failures show in the first minutes of `pytest`
    (and of CI, which runs it), not after half an hour of Snakemake runs. `pytest -m "not e2e"` runs only them."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def ts():
    """A tiny training set for method tests: random teacher and autoencoder, 8 latents of 4 x 8 x 8 with their
    LR (3 x 8 x 8, on the latent grid) and HR pixels (3 x 16 x 16)."""
    from cddbench import models  # first: installs the torchvision shim diffusers needs
    from cddbench.methods.common import TrainingSet
    from diffusers import AutoencoderKL, DDPMScheduler

    torch.manual_seed(0)
    unet = dict(block_out_channels=[16, 32], layers_per_block=1, attention_levels=1, cross_attention_dim=8,
                attention_head_dim=8, norm_num_groups=8)
    teacher = models.build_unet(unet, 8, 4).eval().requires_grad_(False)
    vae = AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        layers_per_block=1).eval().requires_grad_(False)
    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                          prediction_type="v_prediction", clip_sample=False)
    hr = torch.rand(8, 3, 16, 16) * 2 - 1
    return TrainingSet(vae, teacher, sched, torch.randn(8, 4, 8, 8), torch.rand(8, 3, 8, 8) * 2 - 1, hr)


def save_tiny_job(root, ts, repo) -> dict:
    """``ts``'s autoencoder, teacher and encoded training set on disk under ``root`` (as the rules lay them out for
    a training job); returns config.yaml, for the caller to cut down."""
    import yaml

    from cddbench import models
    from cddbench.methods.common import _to_byte

    ts.vae.save_pretrained(root / "vae")
    models.save_model(ts.teacher, str(root / "teacher" / "unet"))
    ts.scheduler.save_pretrained(root / "teacher" / "scheduler")
    lr = torch.nn.functional.interpolate(ts.hr, scale_factor=0.25, mode="bicubic").clamp(-1, 1)
    torch.save({"lr": _to_byte(lr), "hr": _to_byte(ts.hr), "x0": ts.x0}, root / "train_set.pt")
    with open(f"{repo}/config.yaml") as f:
        return yaml.safe_load(f)


class GaussianSchedule:
    """A scheduler stand-in for the 1-D toys of the peers' tests: the teacher's alphas_cumprod, predictions in x."""

    def __init__(self):
        from diffusers import DDPMScheduler

        self.alphas_cumprod = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                            beta_end=0.012).alphas_cumprod
        self.config = type("C", (), {"prediction_type": "sample", "num_train_timesteps": 1000})


def closed_form_denoiser(sched, mean, std):
    """The exact x prediction for data x | c ~ N(mean c, std^2): mean c + a std^2 / (a^2 std^2 + s^2) (z - a mean c)."""
    from cddbench import schedule

    def net(z, t, c):
        a, sg = schedule.alpha_sigma(sched, t, z.ndim)
        return mean * c + a * std**2 / (a**2 * std**2 + sg**2) * (z - a * mean * c)
    return net


@pytest.fixture(scope="module")
def ldm_sr(ts):
    """An LDM-SR-shaped teacher (the LR concatenated) whose condition channels matter (the peers' tests)."""
    from cddbench import models

    torch.manual_seed(3)
    net = models.add_condition_channels(ts.teacher, 3)
    with torch.no_grad():
        net.conv_in.weight[:, -3:].normal_(0, 0.1)
    return net.requires_grad_(False)
