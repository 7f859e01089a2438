"""What a design is when nothing else is said (standard library only, so the
command line reads it before anything heavy is imported).

:data:`DEFAULT_DESIGN` is the paper's DeepMAD-R50 problem (Table 1:
ResNet-50's 4.13G FLOPs and 25.55M params, rho 0.3, bottleneck blocks,
224x224) in the paper convention, with five stages on a grid of multiples of
8. Guideline 1 and 2's weights default in :mod:`mmdeepmad.conventions.rules`.
"""

DEFAULT_DESIGN = dict(
    block='bottleneck',
    flops=4.13e9,
    params=25.55e6,
    rho=0.3,
    resolution=224,
    convention='paper',
    stages=5,
    width_multiple=8)

#: The effectiveness bound of each family when a design is given a latency
#: budget without one: the DeepMAD configs' (0.3 ResNet-type, 0.5 depthwise).
DEFAULT_RHO = {'bottleneck': 0.3, 'basic': 0.3, 'mbv2': 0.5, 'mbv2-se': 0.5}
