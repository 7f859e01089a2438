# Copyright (c) mmdeepmad authors. All rights reserved.
"""Fold each BatchNorm into the conv before it (the deploy form).

Uses the norm's running statistics, so the fused module computes what the
unfused one computes in eval mode. Only plain ``nn.Conv2d`` + ``_BatchNorm``
pairs (BN, SyncBN) inside a :class:`ConvModule` are fused; other norms (GN)
and custom conv layers from ``conv_cfg`` are left as they are.
"""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm


def fused_conv(conv: nn.Conv2d, norm: _BatchNorm) -> nn.Conv2d:
    """A conv with bias equal to ``norm(conv(x))`` in eval mode."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype)
    with torch.no_grad():
        std = torch.sqrt(norm.running_var + norm.eps)
        gamma = norm.weight if norm.affine else torch.ones_like(std)
        beta = norm.bias if norm.affine else torch.zeros_like(std)
        scale = gamma / std
        bias = conv.bias if conv.bias is not None else torch.zeros_like(std)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - norm.running_mean) * scale + beta)
    fused.weight.requires_grad_(conv.weight.requires_grad)
    fused.bias.requires_grad_(conv.weight.requires_grad)
    return fused


def fuse_conv_module(module: ConvModule) -> bool:
    """Fuse ``module``'s conv and BN in place; ``True`` if it did."""
    if not module.with_norm or module.order[:2] != ('conv', 'norm'):
        return False
    norm, conv = module.norm, module.conv
    if type(conv) is not nn.Conv2d or not isinstance(norm, _BatchNorm) \
            or norm.running_var is None:
        return False
    module.conv = fused_conv(conv, norm)
    delattr(module, module.norm_name)
    module.norm_name = None
    module.with_norm = False
    module.with_bias = True
    return True


def fuse_conv_bn(model: nn.Module) -> int:
    """Fuse every ConvModule of ``model`` in place; the number fused."""
    return sum(
        fuse_conv_module(m) for m in list(model.modules())
        if isinstance(m, ConvModule))
