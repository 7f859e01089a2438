# Copyright (c) mmdeepmad authors. All rights reserved.
"""Build the config's model before the Runner does, so that a bad backbone
argument, an unknown arch or a pretrained checkpoint of another architecture
is reported before a work dir is created and datasets are loaded."""
import contextlib
import copy
import logging
import re
from typing import Optional

from .checkpoint import check_state_dict_fits, read_state_dict
from .errors import ConfigError, ModelBuildError

#: exceptions a model's constructor raises for a config it cannot build
#: (mmengine re-raises them with the class name in front); other exception
#: types are bugs and keep their traceback
CONFIG_BUILD_ERRORS = (TypeError, ValueError, KeyError, FileNotFoundError,
                       AssertionError)

#: the prefix mmengine's ``build_from_cfg`` puts before a constructor's error
_CLASS_PREFIX = re.compile(r'class `(\w+)` in [^:]+: ')


def explain_build_error(error: BaseException) -> str:
    """The constructor's message with mmengine's nested ``class `X` in
    path: `` prefixes reduced to the innermost class name."""
    text = error.args[0] if isinstance(error, KeyError) and error.args \
        else str(error)
    text = str(text)
    classes = []
    while True:
        match = _CLASS_PREFIX.match(text)
        if not match:
            break
        classes.append(match.group(1))
        text = text[match.end():]
    text = text.splitlines()[0] if text else type(error).__name__
    return f'{classes[-1]}: {text}' if classes else text


def model_config(cfg):
    """``cfg.model`` with the top-level ``data_preprocessor`` merged in, as
    ``Runner`` does."""
    if not cfg.get('model', None):
        raise ConfigError('the config has no `model`')
    model_cfg = copy.deepcopy(cfg.model)
    preprocessor = cfg.get('data_preprocessor', None)
    if isinstance(model_cfg, dict) and preprocessor is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(preprocessor))
    return model_cfg


@contextlib.contextmanager
def quiet_info_logs():
    """The check build logs nothing below WARNING: the Runner builds the
    model again and logs its notes then."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def build_model(cfg, scope: Optional[str] = None, quiet: bool = False):
    """Build the config's model (in ``scope``, default: the config's
    ``default_scope``); a constructor's complaint about the config becomes a
    :class:`ModelBuildError`. ``quiet``: no INFO logs while building."""
    from mmengine.registry import MODELS, DefaultScope
    scope = scope or cfg.get('default_scope', None)
    model_cfg = model_config(cfg)
    try:
        with DefaultScope.overwrite_default_scope(scope), \
                (quiet_info_logs() if quiet else contextlib.nullcontext()):
            return MODELS.build(model_cfg)
    except CONFIG_BUILD_ERRORS as error:
        raise ModelBuildError(
            f'the model cannot be built: {explain_build_error(error)} '
            '(--debug shows the traceback)') from error


def check_model(cfg, scope: Optional[str] = None, pretrained: bool = True):
    """Build the model once to find config errors before the Runner
    creates its work dir; with ``pretrained``, also check that every
    DeepMAD backbone's ``Pretrained`` checkpoint fits it (strict unless
    ``strict=False``). Returns the model (the caller may drop it)."""
    with quiet_info_logs():
        model = build_model(cfg, scope)
        if pretrained:
            from mmdeepmad.models import DeepMAD
            from .pretrained import check_pretrained_fits
            for name, module in model.named_modules():
                if isinstance(module, DeepMAD):
                    check_pretrained_fits(
                        module, key_path='.'.join(['model', name]).rstrip('.'))
    return model


def check_checkpoint_fits(model, checkpoint: str, config: str) -> None:
    """``tools/test.py``: the whole model's weights must all come from
    ``checkpoint``; raise :class:`CheckpointMismatchError` otherwise."""
    with quiet_info_logs():
        state_dict = read_state_dict(checkpoint)
    check_state_dict_fits(
        model,
        state_dict,
        what=f'checkpoint {checkpoint!r}',
        target=f'the model of config {config!r}',
        hint='tools/test.py evaluates every weight of the model: use a '
        'checkpoint saved by a run of this config (or of the same model).')
