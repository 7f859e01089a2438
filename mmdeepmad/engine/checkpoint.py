# Copyright (c) mmdeepmad authors. All rights reserved.
"""Does a checkpoint fit a model? Shared by ``DeepMAD.init_weights``
(``Pretrained`` init_cfg) and ``tools/test.py``.

mmengine loads checkpoints with ``strict=False`` everywhere (``PretrainedInit``
and ``Runner.load_checkpoint``): the tensors of another architecture load
where names and shapes happen to agree and the rest is only logged. The
helpers here compare the two state dicts first, so the callers can refuse a
checkpoint that does not fit with one message.
"""
import pickle
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import CheckpointMismatchError, InputError

#: names shown for each kind of difference before "... (N more)"
SHOWN = 3


def _shape(value) -> Optional[Tuple[int, ...]]:
    shape = getattr(value, 'shape', None)
    return tuple(shape) if shape is not None else None


def _ignored_when_missing(key: str) -> bool:
    """BatchNorm's step counter: older and converted checkpoints lack it,
    it does not change the outputs (mmengine ignores it too)."""
    return key.endswith('num_batches_tracked')


def _names(keys: Sequence[str], shown: int = SHOWN) -> str:
    text = ', '.join(keys[:shown])
    if len(keys) > shown:
        text += f', ... ({len(keys) - shown} more)'
    return text


def _dims(shape: Optional[Tuple[int, ...]]) -> str:
    if shape is None:
        return 'no tensor'
    return 'x'.join(str(d) for d in shape) if shape else 'scalar'


@dataclass
class StateDictFit:
    """How a state dict compares with a model's own state dict."""

    #: keys of the model the state dict lacks
    missing: List[str] = field(default_factory=list)
    #: keys of the state dict the model lacks
    unexpected: List[str] = field(default_factory=list)
    #: (key, shape in the state dict, shape in the model)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    #: number of tensors of the model's state dict
    expected: int = 0

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def loaded(self) -> int:
        """Tensors of the model that the state dict provides in its shape
        (what a non-strict load copies; BN step counters not counted)."""
        return self.expected - len(self.missing) - len(self.mismatched)

    def describe(self) -> List[str]:
        """One line per kind of difference: the count and the first few
        keys."""
        lines = []
        if self.missing:
            lines.append(f'missing from the checkpoint ({len(self.missing)} '
                         f'of the model\'s {self.expected}): '
                         f'{_names(self.missing)}')
        if self.unexpected:
            lines.append(f'not in the model ({len(self.unexpected)}): '
                         f'{_names(self.unexpected)}')
        if self.mismatched:
            shown = [
                f'{key} (checkpoint {_dims(theirs)}, model {_dims(ours)})'
                for key, theirs, ours in self.mismatched
            ]
            lines.append(f'another shape ({len(self.mismatched)}): '
                         f'{_names(shown)}')
        return lines

    def summary(self) -> str:
        """The differences on one line (for a log warning)."""
        return '; '.join(self.describe())


def state_dict_fit(model, state_dict: Mapping) -> StateDictFit:
    """Compare ``state_dict`` with ``model.state_dict()`` (names and
    shapes)."""
    own = model.state_dict()
    fit = StateDictFit(
        expected=sum(1 for key in own if not _ignored_when_missing(key)))
    for key, value in own.items():
        if key not in state_dict:
            if not _ignored_when_missing(key):
                fit.missing.append(key)
            continue
        theirs, ours = _shape(state_dict[key]), _shape(value)
        if theirs != ours:
            fit.mismatched.append((key, theirs, ours))
    fit.unexpected = [key for key in state_dict if key not in own]
    return fit


def fitting_part(model, state_dict: Mapping) -> Dict:
    """The entries of ``state_dict`` the model has, in the model's shape
    (what can be copied with ``load_state_dict(strict=False)``)."""
    own = model.state_dict()
    return {
        key: value
        for key, value in state_dict.items()
        if key in own and _shape(value) == _shape(own[key])
    }


def check_state_dict_fits(model,
                          state_dict: Mapping,
                          what: str = 'the checkpoint',
                          target: str = 'the model',
                          hint: Optional[str] = None) -> StateDictFit:
    """Raise :class:`~mmdeepmad.engine.errors.CheckpointMismatchError`
    unless every tensor of ``model`` is in ``state_dict`` with its shape and
    ``state_dict`` has nothing else; return the comparison.

    The message names ``what`` and ``target``, the counts and first keys of
    each kind of difference, and ends with ``hint`` (how to proceed)."""
    fit = state_dict_fit(model, state_dict)
    if not fit.fits:
        lines = [
            f'{what} does not fit {target} ({fit.loaded} of its '
            f'{fit.expected} tensors would load):'
        ]
        lines += [f'  {line}' for line in fit.describe()]
        note = _prefix_note(model, state_dict, fit)
        if note:
            lines.append(note)
        if hint:
            lines.append(hint)
        raise CheckpointMismatchError('\n'.join(lines))
    return fit


def _prefix_note(model, state_dict: Mapping, fit: StateDictFit) -> str:
    """Say so when nothing fits but the checkpoint's keys, less a common
    first part (``backbone.``, ``module.``), would."""
    if fit.loaded or not state_dict:
        return ''
    firsts = {key.split('.', 1)[0] for key in state_dict if '.' in key}
    for first in sorted(firsts):
        prefix = f'{first}.'
        inner = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
        if inner and state_dict_fit(model, inner).loaded:
            return (f'(the checkpoint has these tensors under {prefix!r}: '
                    f'load them with prefix={prefix!r})')
    return ''


def read_state_dict(filename: str,
                    map_location: str = 'cpu',
                    prefix: Optional[str] = None) -> Dict:
    """The state dict of a checkpoint as mmengine reads it (local file or
    URL; ``state_dict`` entry if present, ``module.`` of a wrapped model
    removed), restricted to the keys under ``prefix`` with ``prefix``
    removed."""
    from mmengine.runner.checkpoint import CheckpointLoader
    try:
        checkpoint = CheckpointLoader.load_checkpoint(
            filename, map_location=map_location, logger='current')
    except FileNotFoundError as error:
        raise InputError(f'checkpoint {filename!r} does not exist') \
            from error
    except (EOFError, RuntimeError, ValueError,
            pickle.UnpicklingError) as error:
        # torch.load's errors for a file that is not a checkpoint
        # (truncated, text, another pickle)
        raise InputError(f'checkpoint {filename!r} cannot be read: '
                         f'{str(error).splitlines()[0]}') from error
    state_dict = checkpoint
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        state_dict = checkpoint['state_dict']
    if not isinstance(state_dict, Mapping):
        raise InputError(f'checkpoint {filename!r} holds no state dict '
                         f'(found {type(state_dict).__name__})')
    state_dict = {
        re.sub(r'^module\.', '', k): v
        for k, v in state_dict.items()
    }
    if prefix:
        if not prefix.endswith('.'):
            prefix += '.'
        state_dict = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
    return state_dict
