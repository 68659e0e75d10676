import torch

from cddbench import models

UNET = dict(block_out_channels=[16, 32], layers_per_block=1, attention_levels=1, cross_attention_dim=8,
            attention_head_dim=8, norm_num_groups=8)


def test_zero_initialised_condition_channels_leave_output_unchanged():
    torch.manual_seed(0)
    unet = models.build_unet(UNET, 8, 4).eval()
    cond_unet = models.add_condition_channels(unet, 3).eval()
    z, lr, t = torch.randn(2, 4, 8, 8), torch.randn(2, 3, 8, 8), torch.tensor([10, 900])
    with torch.no_grad():
        a = unet(z, t, models.null_embedding(unet, 2)).sample
        b = cond_unet(torch.cat([z, lr], 1), t, models.null_embedding(cond_unet, 2)).sample
    assert torch.equal(a, b)


def test_save_and_load_with_plain_diffusers(tmp_path):
    from diffusers import UNet2DConditionModel

    unet = models.build_unet(UNET, 8, 4)
    models.save_model(unet, str(tmp_path / "unet"))
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    again = UNet2DConditionModel.from_pretrained(str(tmp_path / "unet"))
    for (k, v), (k2, v2) in zip(unet.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
