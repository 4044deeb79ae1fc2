"""The four networks: exact sizes from the spec, the authors' quirks, and equivalences."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from tiny_networks import tiny_network

from dannasep.engine.constants import SOURCES
from dannasep.engine.models import architectures, build_model
from dannasep.engine.models.configs import list_model_configs, load_model_config
from dannasep.engine.models.cpu_inference import BiasAfterConvTranspose2d, prepare_for_cpu_inference
from dannasep.engine.models.demucs import DemucsConfig
from dannasep.engine.models.unet import D2Block, LocalAttention2d, UNetConfig
from dannasep.engine.models.xumx import XUMXConfig
from dannasep.engine.separation.estimators import StemEstimator

PAPER_PARAMETERS = {"xumx": 35_573_392, "unet": 15_676_652, "demucs": 191_928_152, "demucs_v2": 149_462_504}


@pytest.mark.parametrize(("arch", "count"), PAPER_PARAMETERS.items())
def test_paper_configs_have_the_exact_parameter_counts(arch, count):
    model = load_model_config(arch, "paper").build()
    assert model.num_parameters() == count


def test_paper_state_dicts_have_the_authors_layouts():
    unet = build_model("unet")
    assert len(unet.state_dict()) == 462  # as the authors' TorchScript unet_attention.pth
    xumx = build_model("xumx").state_dict()
    assert xumx["affine1.0.weight"].shape == (2048, 2974, 1)
    assert xumx["affine2.3.weight"].shape == (16392, 512, 1)
    assert xumx["input_means"].shape == (5948,) and xumx["output_scale"].shape == (8196,)
    assert {f"{s}_lstm.weight_ih_l0" for s in SOURCES} <= set(xumx)


def test_every_config_file_builds_and_every_architecture_has_paper_and_live():
    keys = {c.key for c in list_model_configs()}
    for arch in architectures():
        assert f"{arch}-paper" in keys
    assert {"xumx-live", "unet-live", "demucs-live"} <= keys


def _tiny(arch):
    return tiny_network(arch)


def test_magnitude_models_map_spectrograms_to_non_negative_masks():
    mag = torch.rand(2, 2, 2049, 70)
    with torch.inference_mode():
        for arch in ("xumx", "unet"):
            masks = _tiny(arch)(mag)
            assert masks.shape == (2, 4, 2, 2049, 70)
            assert (masks >= 0).all()


def test_unet_fixed_quarter_mask_above_max_bins_and_on_the_last_frame():
    with torch.inference_mode():
        masks = _tiny("unet")(torch.rand(1, 2, 2049, 64))
    assert torch.all(masks[..., 1487:, :] == 0.25)
    assert torch.all(masks[..., -1] == 0.25)
    assert not torch.all(masks[..., :1480, :-1] == 0.25)


def test_demucs_output_is_left_aligned_and_shorter():
    model = load_model_config("demucs", "paper").build().eval()
    assert model.output_length(441_000) == 438_954  # as the authors' DemucsSplit computes it
    live = _tiny("demucs")
    with torch.inference_mode():
        out = live(torch.randn(1, 2, 50_000))
    assert out.shape == (1, 4, 2, live.output_length(50_000)) and out.shape[-1] <= 50_000


def test_demucs_v2_pads_to_a_valid_length_and_keeps_the_input_length():
    model = build_model("demucs_v2", dataclasses.replace(build_model("demucs_v2").config, channels=8))
    assert load_model_config("demucs_v2", "paper").build().valid_length(441_000) == 447_146
    with torch.inference_mode():
        out = model.eval()(torch.randn(1, 2, 30_001))
    assert out.shape == (1, 4, 2, 30_001)


def test_demucs_standardises_its_input():
    model = _tiny("demucs")
    x = torch.randn(1, 2, 40_000)
    with torch.inference_mode():
        y, y_scaled = model(x), model(x * 8.0 + 0.01)
    # standardisation then destandardisation: a louder input gives a proportionally louder output
    assert torch.allclose(y_scaled, y * 8.0 + 0.01, atol=1e-3, rtol=1e-3)


def _own_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mono = x.mean(1, keepdim=True)
    return mono.mean(-1, keepdim=True), mono.std(-1, keepdim=True)


@pytest.mark.parametrize("arch", ["demucs", "demucs_v2"])
def test_demucs_takes_given_statistics_in_place_of_its_inputs_own(arch):
    torch.manual_seed(0)
    if arch == "demucs":
        model = _tiny("demucs")
    else:
        config = dataclasses.replace(build_model("demucs_v2").config, channels=8, normalize=True)
        model = build_model("demucs_v2", config).eval()
    assert model.normalises_input
    # Demucs v2's forward zero-pads to a valid length first, which would change its own statistics
    run = model.forward_raw if arch == "demucs_v2" else model
    x = torch.randn(1, 2, 40_000)
    loud = x * 8.0
    with torch.inference_mode():
        own = run(x)
        same = run(x, statistics=_own_statistics(x))
        rescaled = run(loud, statistics=_own_statistics(x))  # standardised by the quiet input's statistics
        quiet_net = run(loud, statistics=_own_statistics(loud))
    assert torch.allclose(same, own, atol=1e-6)
    assert not torch.allclose(rescaled / 8.0, own, atol=1e-3)  # another operating point
    assert torch.allclose(quiet_net, own * 8.0, atol=1e-4, rtol=1e-4)


def test_only_the_demucs_family_standardises_its_input():
    assert not build_model("xumx").normalises_input and not build_model("unet").normalises_input
    assert not build_model("demucs_v2").normalises_input  # the authors' demucs48_hq: normalize=False


def test_a_unet_window_shifted_by_its_time_grid_computes_the_same_middle():
    """Render-ahead's quick chunks start their windows on the plan window's time grid; off the
    grid, the U-Net's poolings and attention blocks see other frames together."""
    from dannasep.engine.constants import HOP_LENGTH

    net = tiny_network("unet")
    grid = net.time_grid_samples() // HOP_LENGTH
    assert (
        net.time_grid_samples() % HOP_LENGTH == 0 and grid == 2**net.config.levels * net.config.attention_query_frames
    )
    frames, margin = 640, 240
    magnitude = torch.rand(1, 2, 2049, frames + grid, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = net(magnitude[..., :frames])[..., margin : frames - margin]
        for shift, same in ((grid, True), (1, False)):
            shifted = net(magnitude[..., shift : shift + frames])[..., margin - shift : frames - margin - shift]
            assert torch.allclose(shifted, reference, atol=1e-5) == same


def test_d2_block_equals_the_unfused_formula():
    torch.manual_seed(0)
    block = D2Block(in_channels=3, growth=2, layers=3).eval()
    x = torch.randn(1, 3, 16, 12)
    with torch.inference_mode():
        out = block(x)
        # z_l = ReLU(BN_l(Σ_{i<l} conv_{i->l}(z_i))), conv_{i->l} being slice (l-1-i) of conv_layers[i]
        z = [x]
        for layer in range(1, 4):
            total = 0
            for i in range(layer):
                conv = block.conv_layers[i]
                w = conv.weight.chunk(3 - i, dim=0)[layer - 1 - i]
                total = total + F.conv2d(z[i], w, padding=2**i, dilation=2**i)
            z.append(block.bn_layers[layer - 1](total))
    assert torch.allclose(out, torch.cat(z[1:], dim=1), atol=1e-6)


def test_local_attention_equals_an_explicit_loop():
    torch.manual_seed(0)
    att = LocalAttention2d(6, 5, d_model=8, heads=2, query_frames=2, flange=3).eval()
    x = torch.randn(1, 6, 4, 7)  # 7 frames: not a multiple of the query block
    with torch.inference_mode():
        out = att(x)
        qkv = F.pad(att.qkv_conv(x), (0, 1))  # time padded to 8
        heads, depth, bins = 2, 4, 4
        q, k, v = qkv.view(1, heads, 3 * depth, bins, 8).chunk(3, dim=2)
        k, v = F.pad(k, (3, 3)), F.pad(v, (3, 3))
        ref = torch.zeros(1, heads, depth, bins, 8)
        for h in range(heads):
            for block in range(4):
                qs = q[0, h, :, :, 2 * block : 2 * block + 2].reshape(depth, -1).T * depth**-0.5
                ks = k[0, h, :, :, 2 * block : 2 * block + 8].reshape(depth, -1)
                vs = v[0, h, :, :, 2 * block : 2 * block + 8].reshape(depth, -1).T
                bias = (ks.abs().sum(0) == 0).float() * -1e-9
                o = torch.softmax(qs @ ks + bias, dim=-1) @ vs  # (bins·2, depth)
                ref[0, h, :, :, 2 * block : 2 * block + 2] = o.T.reshape(depth, bins, 2)
        expected = att.out_conv(ref.reshape(1, heads * depth, bins, 8)[..., :7])
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["xumx", "unet", "demucs"])
def test_channels_last_inference_gives_the_same_output(arch):
    plain = _tiny(arch)
    fast = prepare_for_cpu_inference(_tiny(arch))
    # the layout swap keeps parameter names; only the U-Net's folded batch norms change its state dict
    assert (plain.state_dict().keys() == fast.state_dict().keys()) is not fast.inference_only
    x = torch.randn(1, 2, 60_000) if arch == "demucs" else torch.rand(1, 2, 2049, 40)
    with torch.inference_mode():
        a, b = plain(x), fast(x)
    assert torch.allclose(a, b, atol=1e-4 * max(1.0, a.abs().max().item()))


def test_traits_describe_the_protocol():
    for arch, domain in [("xumx", "magnitude"), ("unet", "magnitude"), ("demucs", "waveform")]:
        traits = _tiny(arch).traits
        assert traits.input_domain == domain and traits.sources == SOURCES and traits.sample_rate == 44100
        assert traits.context_samples > 0 and traits.stream_context_samples % 1024 == 0
        assert traits.stream_lookahead_samples % 1024 == 0 and traits.stream_lookahead_samples >= 4096


def test_smaller_configs_are_smaller():
    assert build_model("xumx", XUMXConfig(hidden_channels=128)).num_parameters() < PAPER_PARAMETERS["xumx"]
    assert build_model("unet", UNetConfig(growth=4)).num_parameters() < PAPER_PARAMETERS["unet"]
    assert build_model("demucs", DemucsConfig(channels=16, depth=4)).num_parameters() < 1e7


@pytest.mark.parametrize("arch", ["xumx", "unet", "demucs"])
def test_bf16_networks_stay_close_to_fp32_and_return_float32(arch):
    """bf16 casts the whole network (weights and activations); the estimator's output is float32
    and, without the Wiener filter (float in both), within 40 dB of fp32 (measured 45-62 dB). The
    EM step can amplify the difference on random weights, whose four masks are nearly alike; the
    shipped, trained weights score the same SDR in both precisions (README, Benchmarks)."""
    mix = torch.randn(1, 2, 3 * 44100) * 0.1
    reference = StemEstimator(prepare_for_cpu_inference(_tiny(arch)), 0, precision="fp32")(mix)
    model = prepare_for_cpu_inference(_tiny(arch))
    estimator = StemEstimator(model, 0, precision="bf16")
    assert estimator.precision == "bf16" and all(p.dtype == torch.bfloat16 for p in model.parameters())
    out = estimator(mix)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    snr = 10 * torch.log10(reference.pow(2).sum() / (out - reference).pow(2).sum())
    assert snr > 40, f"{arch}: bf16 only {snr:.1f} dB from fp32"


def test_auto_precision_follows_the_cpu(monkeypatch):
    import dannasep.engine.cpu_features as cpu

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own detection, the oracle
    assert cpu.native_bf16() == any(getattr(torch.cpu, name, lambda: False)() for name in probes)

    for native, expected in [(True, "bf16"), (False, "fp32")]:
        monkeypatch.setattr(cpu, "native_bf16", lambda native=native: native)
        assert cpu.resolve_precision("auto") == expected
    assert cpu.resolve_precision("fp32") == "fp32" and cpu.resolve_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        cpu.resolve_precision("fp16")


def _randomise_batch_norms(model: torch.nn.Module) -> None:
    """Fresh batch norms are identities; give them statistics and affines as training would."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(1.0 + 0.3 * torch.randn(n, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))


def test_unet_with_batch_norms_folded_computes_the_same_masks():
    model = _tiny("unet")
    _randomise_batch_norms(model)
    magnitude = torch.rand(1, 2, 2049, 64)
    with torch.inference_mode():
        before = model(magnitude)
    batch_norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    prepare_for_cpu_inference(model)  # folds, then channels-last
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        after = model(magnitude)
    assert left == 2 < batch_norms  # only the two after the attention stay
    assert any(isinstance(m, BiasAfterConvTranspose2d) and m.bias is not None for m in model.modules())
    assert model.inference_only
    assert torch.allclose(after, before, atol=2e-5), (after - before).abs().max()


def test_a_network_rewritten_for_inference_cannot_be_saved_as_a_checkpoint(tmp_path):
    from dannasep.engine.models.checkpoint import save_checkpoint

    model = prepare_for_cpu_inference(_tiny("unet"))
    with pytest.raises(ValueError, match="rewritten for inference"):
        save_checkpoint(model, tmp_path)
    assert not list(tmp_path.iterdir())
