"""Each module starting from the trained layer it replaces (`init_from_conv` / `init_from_upsample`), checked by
comparing outputs in eval mode against the replaced layer with random weights and non-trivial BatchNorm statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv
from shapenas.modules.akconv_shapes import FAMILIES, WINDOW, regular, tap_shares, window_shift
from tests.helpers import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_conv(c1: int, c2: int, k: int = 3, s: int = 1, groups: int = 1, seed: int = 0):
    """A padded conv and its BatchNorm with random weights, affine and running statistics (as after training)."""
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=groups, bias=False)
    bn = nn.BatchNorm2d(c2, eps=1e-3)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
        bn.running_mean.copy_(torch.randn(c2, generator=generator))
        bn.running_var.copy_(torch.rand(c2, generator=generator) + 0.5)
        bn.weight.copy_(1 + 0.3 * torch.randn(c2, generator=generator))
        bn.bias.copy_(0.3 * torch.randn(c2, generator=generator))
    return conv.eval(), bn.eval()


def replaced(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """What Ultralytics' Conv computes: SiLU(BN(conv(x)))."""
    return F.silu(bn(conv(x)))


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).detach().norm() / want.detach().norm())


def sample(c: int, h: int = 11, w: int = 13, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(seed))


EXACT = [(3, 1, 1), (3, 2, 1), (1, 1, 1), (3, 2, 4), (5, 1, 2)]  # (k, s, groups)


@pytest.mark.parametrize("k, s, groups", EXACT)
@pytest.mark.parametrize("experts", [1, 2, 4])
def test_dynamic_conv_starts_exactly_as_the_conv(k, s, groups, experts):
    conv, bn = trained_conv(8, 12, k, s, groups)
    x = sample(8)
    module = DynamicConv.from_conv(conv, bn, num_experts=experts).eval()
    assert relative_error(module(x), replaced(conv, bn, x)) < 1e-5


@pytest.mark.parametrize("k, s, groups", EXACT)
@pytest.mark.parametrize("kernels", [1, 2, 4])
@pytest.mark.parametrize("temperature", [1.0, 30.0])
def test_odconv_starts_exactly_as_the_conv(k, s, groups, kernels, temperature):
    conv, bn = trained_conv(8, 12, k, s, groups)
    x = sample(8)
    module = ODConv.from_conv(conv, bn, kernel_num=kernels).eval()
    module.temperature = temperature  # zero logits: every attention is the same at any temperature
    assert relative_error(module(x), replaced(conv, bn, x)) < 1e-5


def test_depthwise_odconv_starts_exactly_as_the_conv():
    conv, bn = trained_conv(8, 8, 3, 2, groups=8)
    x = sample(8)
    module = ODConv.from_conv(conv, bn, kernel_num=2).eval()
    assert module.filter_fc is None  # no filter attention when depthwise: one factor of 2 less
    assert relative_error(module(x), replaced(conv, bn, x)) < 1e-5


@pytest.mark.parametrize("cls, key", [(DynamicConv, "num_experts"), (ODConv, "kernel_num")])
def test_experts_start_distinct_but_identical_ones_never_separate(cls, key):
    """Zero-sum noise makes the experts (kernels) differ while their mean, the function, stays exact; without it they
    get identical gradients, and the routing that would tell them apart stays symmetric."""
    conv, bn = trained_conv(8, 12)
    x, target = sample(8, batch=4), torch.randn(4, 12, 11, 13, generator=torch.Generator().manual_seed(5))
    gates = {}
    for spread in (0.0, 0.1):
        module = cls.from_conv(conv, bn, **{key: 4}, spread=spread, generator=torch.Generator().manual_seed(0)).train()
        optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
        for _ in range(5):
            optimizer.zero_grad()
            F.mse_loss(module(x), target).backward()
            optimizer.step()
        kernels = module.kernels()
        gate = module.routing.weight if cls is DynamicConv else module.kernel_fc.weight.flatten(1)
        gates[spread] = (kernels, gate)
    same_kernels, same_gate = gates[0.0]
    assert (same_kernels - same_kernels[0]).abs().max() < 1e-6  # identical experts stay identical
    assert (same_gate - same_gate[0]).abs().max() < 1e-6  # and so does every expert's routing row
    kernels, gate = gates[0.1]
    assert (kernels - kernels[0]).abs().max() > 1e-3
    assert (gate - gate[0]).abs().max() > 1e-6  # the routing now tells the experts apart


@pytest.mark.parametrize("groups, dyscope", [(1, False), (2, True), (4, False)])
def test_dysample_lp_starts_as_nearest_upsampling_and_trains(groups, dyscope):
    upsample = nn.Upsample(scale_factor=2, mode="nearest")
    x = sample(8, 5, 7)
    module = DySample.from_upsample(upsample, 8, "lp", groups, dyscope).eval()
    assert relative_error(module(x), upsample(x)) < 1e-5
    module.train()
    (module(x) * torch.randn(2, 8, 10, 14, generator=torch.Generator().manual_seed(3))).sum().backward()
    assert module.offset.weight.grad.abs().sum() > 0  # the offsets learn from the first step


@pytest.mark.parametrize("style", ["lp", "pl"])
def test_dysample_starts_exactly_as_bilinear_upsampling_in_either_style(style):
    upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    x = sample(8, 5, 7)
    module = DySample.from_upsample(upsample, 8, style, 2).eval()
    assert relative_error(module(x), upsample(x)) < 1e-5


def test_dysample_pl_can_only_approximate_nearest():
    """`pl` predicts offsets from the pixel-shuffled input: no bias can undo the sub-pixel initial positions."""
    upsample = nn.Upsample(scale_factor=2, mode="nearest")
    x = sample(8, 5, 7)
    module = DySample.from_upsample(upsample, 8, "pl", 2).eval()
    assert relative_error(module(x), upsample(x)) > 1e-3
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert relative_error(module(x), bilinear) < 1e-5  # it starts as bilinear upsampling instead


@pytest.mark.parametrize("s", [1, 2])
def test_regular_akconv_n9_equals_the_conv_away_from_the_border(s):
    conv, bn = trained_conv(8, 12, 3, s)
    x = sample(8)
    module = AKConv.from_conv(conv, bn, 9).eval()
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    got, want = module(x), replaced(conv, bn, x)
    assert relative_error(got[inner], want[inner]) < 1e-5
    assert relative_error(got, want) > 1e-3  # the border differs: AKConv clamps to the map, the conv zero-pads


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("n", [3, 5, 9])
def test_any_akconv_shape_equals_the_conv_on_a_locally_constant_map(family, n):
    """Every tap's weight goes to exactly one landed point (its own, or shared among the nearest), so where the
    input is locally constant the (N,1) conv sums the same weights as the 3x3 conv."""
    conv, bn = trained_conv(8, 12, 3, 1)
    x = torch.full((1, 8, 11, 13), 0.7)
    module = AKConv.from_conv(conv, bn, n, FAMILIES[family](n)).eval()
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    assert relative_error(module(x)[inner], replaced(conv, bn, x)[inner]) < 1e-5


def test_window_shift_lands_the_most_tap_energy_and_centres_ties():
    centre_only = [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert window_shift(regular(9), centre_only) == (-1, -1)  # 3x3 on the window; ties to the centred shift
    assert window_shift([(0, 0), (0, 1), (0, 2)], centre_only) == (0, -1)  # the middle point on the centre
    top_right = [[0.0, 0.0, 5.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert window_shift([(0, 0)], top_right) == (-1, 1)


def test_tap_shares_give_every_tap_away_exactly_once():
    points = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]  # regular(5)
    shares = tap_shares(points, (-1, -1))
    given: dict = {}
    for point_shares in shares:
        for tap, share in point_shares:
            given[tap] = given.get(tap, 0.0) + share
    assert given == {tap: pytest.approx(1.0) for tap in WINDOW}
    assert shares[0][0] == ((-1, -1), 1.0)  # a landed point takes its own tap whole


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_spconv_is_exact_on_the_constant_map_it_is_calibrated_on(s, ratio):
    """SPConv's split keeps the pre-normalisation sum exact where the input is locally constant, and the calibration
    equalises the branch means on that input, so the fusion weighs the halves equally."""
    conv, bn = trained_conv(8, 12, 3, s)
    x = torch.full((1, 8, 12, 12), 0.7)
    module = SPConv.from_conv(conv, bn, ratio, x=x).eval()
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert relative_error(module(x)[inner], replaced(conv, bn, x)[inner]) < 1e-4


def test_spconv_approximates_on_real_looking_inputs():
    conv, bn = trained_conv(16, 12, 3, 1)
    x = F.avg_pool2d(sample(16, 16, 16), 3, 1, 1)  # spatially correlated, like a feature map
    module = SPConv.from_conv(conv, bn, 0.5, x=x).eval()
    fresh = SPConv(16, 12, 3, 1, 0.5).eval()
    want = replaced(conv, bn, x)
    assert relative_error(module(x), want) < relative_error(fresh(x), want)


@pytest.mark.parametrize(
    "make",
    [
        lambda conv, bn: DynamicConv(8, 16, 3, 1).init_from_conv(conv, bn),
        lambda conv, bn: ODConv(8, 12, 3, 2).init_from_conv(conv, bn),
        lambda conv, bn: AKConv(8, 12, 5, 1).init_from_conv(*trained_conv(8, 12, 1)),
        lambda conv, bn: SPConv(6, 12, 3, 1).init_from_conv(conv, bn),
    ],
)
def test_a_conv_that_does_not_fit_is_refused_with_the_mismatch(make):
    conv, bn = trained_conv(8, 12, 3, 1)
    with pytest.raises(ValueError, match="cannot start from"):
        make(conv, bn)


def test_dysample_refuses_an_upsample_of_another_scale():
    with pytest.raises(ValueError, match="does not scale by 2"):
        DySample(8).init_from_upsample(nn.Upsample(scale_factor=3))
