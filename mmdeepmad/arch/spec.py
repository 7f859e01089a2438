"""The architecture spec: the contract between the design engine and backbone.

A network is a stem conv, ``M`` stages of identical residual units and an
optional final 1x1 conv (the depthwise models' head conv). The backbone
builds exactly what the spec says; the counters in
:mod:`mmdeepmad.conventions.counters` count exactly what the backbone builds.
Serialised as JSON (schema in ``docs/arch_spec.md``).
"""
from __future__ import annotations
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

#: Block families. ``mid_channels`` means the bottleneck width
#: (``bottleneck``), the inner width (``basic``) or the expanded width
#: (``mbv2``, ``mbv2-se``).
BLOCK_FAMILIES = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
DEPTHWISE_FAMILIES = ('mbv2', 'mbv2-se')

#: Unit styles (how shortcuts and the last activation are laid out).
#: ``tinynas`` (the DeepMAD releases): a stride-2 shortcut is a 2x2 average
#: pool, then a 1x1 conv + BN projection where one is needed; bottleneck units
#: project on the first unit of every stage, basic units where in != out, mbv2
#: units keep a shortcut only when in == out (identity, after the pool on a
#: stride-2 unit); every unit ends with its activation after the residual add.
#: ``torchvision`` (ResNet, MobileNetV2 as published): a strided 1x1 conv + BN
#: projection whenever the shape changes; mbv2 units keep an identity shortcut
#: only when in == out and stride == 1 and end without an activation.
UNIT_STYLES = ('tinynas', 'torchvision')

ACTIVATIONS = ('relu', 'relu6', 'silu')

SCHEMA_VERSION = 1

#: Upper limits no real network reaches (the largest published CNNs stay far
#: below them): a value above one is a typo or a unit slip, and refused before
#: anything is counted or built (a depth of 1e9 would otherwise take minutes).
MAX_DEPTH = 1000  # units per stage
MAX_CHANNELS = 65536  # any width: stem, stage, mid, head conv, input
MAX_KERNEL = 63  # conv kernel side
MAX_RESOLUTION = 16384  # input side in pixels
MAX_STAGES = 32


class SpecError(ValueError):
    """A spec that describes no buildable network; the message names the
    field."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


def _positive_int(value: Any,
                  where: str,
                  limit: Optional[int] = None,
                  what: str = '') -> None:
    """A positive integer, at most ``limit`` (``what`` says what the limit
    counts, e.g. 'units per stage')."""
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        f'{where} must be a positive integer, got {value!r}')
    if limit is not None:
        _require(
            value <= limit, f'{where} is {value}, above the limit {limit}'
            f'{" " + what if what else ""} (no real network reaches it)')


def _odd_kernel(value: Any, where: str) -> None:
    """A conv kernel: a positive odd integer ("same" padding), at most
    :data:`MAX_KERNEL`."""
    _positive_int(value, where, MAX_KERNEL)
    _require(value % 2 == 1, f'{where} must be odd, got {value}')


def _stride(value: Any, where: str) -> None:
    _require(value in (1, 2), f'{where} must be 1 or 2, got {value!r}')


def total_stride(strides: Sequence[int]) -> int:
    """The product of every down-sampling step (stem conv, stem pool and
    stages)."""
    product = 1
    for stride in strides:
        product *= int(stride)
    return product


def check_resolution(resolution: int,
                     strides: Sequence[int],
                     where: str = 'resolution',
                     steps: str = '') -> None:
    """The rule on the input side: the last feature map must be at least one
    pixel after every stride, ``resolution >= total stride`` (224 with the
    usual total stride 32 gives 7x7; 32 gives 1x1). ``strides`` are all the
    down-sampling steps in order, ``steps`` how the message names them."""
    product = total_stride(strides)
    _require(
        resolution >= product,
        f'{where} {resolution} is smaller than the total stride {product}'
        f'{" (" + steps + ")" if steps else ""}: the last feature map would '
        f'be {resolution}/{product} of a pixel; give a resolution of at least '
        f'{product} or fewer stride-2 stages')


def one_pixel_stages(resolution: int, leading: int,
                     strides: Sequence[int]) -> Tuple[int, ...]:
    """Indices of the stages whose output is nominally 1x1
    (``resolution / stride so far <= 1``); ``leading`` is the stem's total
    stride (conv and pool)."""
    side = resolution / leading
    found = []
    for index, stride in enumerate(strides):
        side /= stride
        if side <= 1:
            found.append(index)
    return tuple(found)


@dataclass(frozen=True)
class StemSpec:
    """The first conv (+ BN + act), optionally with ResNet's 3x3/2 max pool."""

    out_channels: int
    kernel_size: int = 3
    stride: int = 2
    max_pool: bool = False

    def validate(self, where: str = 'stem') -> None:
        _positive_int(self.out_channels, f'{where}.out_channels', MAX_CHANNELS,
                      'channels')
        _odd_kernel(self.kernel_size, f'{where}.kernel_size')
        _stride(self.stride, f'{where}.stride')
        _require(
            isinstance(self.max_pool, bool),
            f'{where}.max_pool must be true or false')


@dataclass(frozen=True)
class StageSpec:
    """``depth`` identical units of one block family; the first one carries
    the stride."""

    block: str
    out_channels: int
    mid_channels: int
    kernel_size: int
    depth: int
    stride: int = 1
    #: mbv2 families only: ``False`` drops the 1x1 expansion conv
    #: (MobileNetV2's first block, whose expanded width equals its input
    #: width).
    expand_conv: bool = True

    def validate(self, where: str = 'stage') -> None:
        _require(
            self.block in BLOCK_FAMILIES,
            f'{where}.block must be one of {", ".join(BLOCK_FAMILIES)}; '
            f'got {self.block!r}')
        for name, limit, what in (('out_channels', MAX_CHANNELS, 'channels'),
                                  ('mid_channels', MAX_CHANNELS, 'channels'),
                                  ('depth', MAX_DEPTH, 'units per stage')):
            _positive_int(getattr(self, name), f'{where}.{name}', limit, what)
        _odd_kernel(self.kernel_size, f'{where}.kernel_size')
        _stride(self.stride, f'{where}.stride')
        _require(
            isinstance(self.expand_conv, bool),
            f'{where}.expand_conv must be true or false')
        _require(
            self.expand_conv or self.block in DEPTHWISE_FAMILIES,
            f'{where}.expand_conv=false is only meaningful for mbv2 blocks')


@dataclass(frozen=True)
class HeadConvSpec:
    """The final 1x1 conv (+ BN + act) of the depthwise models (1792 channels
    in the DeepMAD releases; its width is fixed, not designed)."""

    out_channels: int
    kernel_size: int = 1

    def validate(self, where: str = 'head_conv') -> None:
        _positive_int(self.out_channels, f'{where}.out_channels', MAX_CHANNELS,
                      'channels')
        _odd_kernel(self.kernel_size, f'{where}.kernel_size')


@dataclass(frozen=True)
class ArchSpec:
    """A whole backbone. ``meta`` is free-form provenance (budgets, the command
    that produced it); it never changes what is built."""

    stem: StemSpec
    stages: Tuple[StageSpec, ...]
    head_conv: Optional[HeadConvSpec] = None
    in_channels: int = 3
    resolution: int = 224
    style: str = 'tinynas'
    act: str = 'relu'
    name: str = ''
    meta: Dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'stages', tuple(self.stages))
        self.validate()

    # ---- checks -------------------------------------------------------------
    def validate(self) -> None:
        _require(isinstance(self.stem, StemSpec), 'stem must be a StemSpec')
        self.stem.validate()
        _require(len(self.stages) >= 1, 'stages must hold at least one stage')
        _require(
            len(self.stages) <= MAX_STAGES,
            f'stages holds {len(self.stages)} stages, above the limit '
            f'{MAX_STAGES} (no real network reaches it)')
        for index, stage in enumerate(self.stages):
            _require(
                isinstance(stage, StageSpec),
                f'stages[{index}] must be a StageSpec')
            stage.validate(f'stages[{index}]')
        if self.head_conv is not None:
            _require(
                isinstance(self.head_conv, HeadConvSpec),
                'head_conv must be a HeadConvSpec or null')
            self.head_conv.validate()
        _positive_int(self.in_channels, 'in_channels', MAX_CHANNELS,
                      'channels')
        _positive_int(self.resolution, 'resolution', MAX_RESOLUTION, 'pixels')
        check_resolution(
            self.resolution, self.down_sampling, steps=self.down_sampling_text)
        _require(
            self.style in UNIT_STYLES,
            f'style must be one of {", ".join(UNIT_STYLES)}; '
            f'got {self.style!r}')
        _require(
            self.act in ACTIVATIONS,
            f'act must be one of {", ".join(ACTIVATIONS)}; got {self.act!r}')

    # ---- derived facts ------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def down_sampling(self) -> Tuple[int, ...]:
        """Every stride in order: the stem conv, its max pool (2), the
        stages."""
        return ((self.stem.stride, ) + ((2, ) if self.stem.max_pool else
                                        ()) + tuple(stage.stride
                                                    for stage in self.stages))

    @property
    def down_sampling_text(self) -> str:
        """The strides in words, for messages: ``stem 2, stages 2,2,2,1,2``."""
        stem = self.stem.stride * (2 if self.stem.max_pool else 1)
        return (f'stem {stem}' +
                (' with its max pool' if self.stem.max_pool else '') +
                ', stages ' + ','.join(str(s.stride) for s in self.stages))

    @property
    def one_pixel_stages(self) -> Tuple[int, ...]:
        """Stages whose output is nominally 1x1 (see :func:`one_pixel_stages`);
        two or more mean the later stages see a single pixel."""
        leading = self.stem.stride * (2 if self.stem.max_pool else 1)
        return one_pixel_stages(self.resolution, leading,
                                [stage.stride for stage in self.stages])

    @property
    def depths(self) -> Tuple[int, ...]:
        return tuple(stage.depth for stage in self.stages)

    @property
    def stage_channels(self) -> Tuple[int, ...]:
        """Output channels of each stage; the last includes the head conv."""
        channels = [stage.out_channels for stage in self.stages]
        if self.head_conv is not None:
            channels[-1] = self.head_conv.out_channels
        return tuple(channels)

    @property
    def plain_conv_act(self) -> str:
        """Activation of the stem and head conv: TinyNAS's ConvKXBNRELU is
        always ReLU (also in its SiLU networks); otherwise ``act``."""
        return 'relu' if self.style == 'tinynas' else self.act

    @property
    def blocks(self) -> Tuple[str, ...]:
        return tuple(stage.block for stage in self.stages)

    def replace(self, **changes: Any) -> 'ArchSpec':
        """A copy with some fields changed (unknown names are an error)."""
        return dataclasses.replace(self, **changes)

    def replace_stage(self, index: int, **changes: Any) -> 'ArchSpec':
        stages = list(self.stages)
        stages[index] = dataclasses.replace(stages[index], **changes)
        return self.replace(stages=tuple(stages))

    # ---- serialisation ------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        data = {
            'schema_version':
            SCHEMA_VERSION,
            'name':
            self.name,
            'in_channels':
            self.in_channels,
            'resolution':
            self.resolution,
            'style':
            self.style,
            'act':
            self.act,
            'stem':
            dataclasses.asdict(self.stem),
            'stages': [dataclasses.asdict(stage) for stage in self.stages],
            'head_conv': (dataclasses.asdict(self.head_conv)
                          if self.head_conv is not None else None),
            'meta':
            self.meta,
        }
        return data

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, fixed indent, trailing newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + '\n'

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'ArchSpec':
        _require(
            isinstance(data, dict),
            f'an arch spec must be a JSON object, got {type(data).__name__}')
        version = data.get('schema_version', SCHEMA_VERSION)
        _require(
            version == SCHEMA_VERSION,
            f'schema_version {version!r} is not supported '
            f'(this version reads {SCHEMA_VERSION})')
        known = {
            'schema_version', 'name', 'in_channels', 'resolution', 'style',
            'act', 'stem', 'stages', 'head_conv', 'meta'
        }
        unknown = sorted(set(data) - known)
        _require(
            not unknown, f'unknown field(s) in arch spec: {unknown}; '
            f'known fields: {sorted(known)}')
        for key in ('stem', 'stages'):
            _require(key in data, f'arch spec is missing the field {key!r}')
        stem = _build(StemSpec, data['stem'], 'stem')
        _require(
            isinstance(data['stages'], list),
            'stages must be a list of stage objects')
        stages = tuple(
            _build(StageSpec, stage, f'stages[{index}]')
            for index, stage in enumerate(data['stages']))
        head = data.get('head_conv')
        head_conv = (
            _build(HeadConvSpec, head, 'head_conv')
            if head is not None else None)
        kwargs = {
            key: data[key]
            for key in ('name', 'in_channels', 'resolution', 'style', 'act',
                        'meta') if key in data
        }
        return cls(stem=stem, stages=stages, head_conv=head_conv, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> 'ArchSpec':
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(f'arch JSON is malformed: {error}') from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str) -> 'ArchSpec':
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        try:
            return cls.from_json(text)
        except SpecError as error:
            raise SpecError(f'{path}: {error}') from None


def _build(kind, data: Any, where: str):
    _require(isinstance(data, dict), f'{where} must be an object')
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    _require(
        not unknown,
        f'unknown field(s) in {where}: {unknown}; known: {sorted(names)}')
    try:
        return kind(**data)
    except TypeError as error:
        raise SpecError(f'{where}: {error}') from None
