# Copyright (c) mmdeepmad authors. All rights reserved.
"""Config checks the tools run before anything is built or written.

* :func:`read_config`: a missing file is a
  :class:`~mmdeepmad.engine.errors.MissingFileError`; a syntax error (file
  and line, also in a ``_base_`` file, where mmengine says ``<unknown>``), a
  missing ``_base_`` file or an error while the config runs is one
  :class:`~mmdeepmad.engine.errors.ConfigError`.
* :func:`apply_cfg_options`: ``--cfg-options`` may only set keys the config
  has and something reads: mmengine adds unknown keys silently, and a
  top-level variable of the config file (``max_epochs = 480``,
  ``data_root``, ``pretrained``) was already copied into the keys that use
  it when the file was read, so ``max_epochs=1`` instead of
  ``train_cfg.max_epochs=1`` trains for the config's 480 epochs. Both are
  errors listing the keys meant. ``+KEY=VALUE`` sets a key unchecked (a new
  argument of a module, a key a custom hook reads).
* :func:`check_data`: the dataset roots and annotation files of the
  dataloaders exist (local paths only), before a work dir is created.
"""
import ast
import difflib
import os.path as osp
import traceback
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import ConfigError, DataError, MissingFileError

#: how deep :func:`config_keys` walks for suggestions
MAX_DEPTH = 8


# ---- reading ----------------------------------------------------------------
def _local_bases(tree: ast.Module, path: str) -> List[Tuple[str, int]]:
    """``(resolved path, line)`` of every local file in ``_base_``
    (``pkg::`` bases are the libraries' and resolved by mmengine)."""
    bases = []
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            continue
        value = node.value
        items = value.elts if isinstance(value, (ast.List, ast.Tuple)) \
            else [value]
        for item in items:
            if isinstance(item, ast.Constant) and isinstance(
                    item.value, str) and '::' not in item.value:
                base = osp.join(osp.dirname(path), item.value)
                bases.append((osp.normpath(base), node.lineno))
    return bases


def check_config_source(path: str,
                        shown: Optional[str] = None,
                        seen=None) -> None:
    """Parse a ``.py`` config and its local ``_base_`` files; raise
    :class:`ConfigError` naming the file and line of a syntax error or a
    missing base."""
    seen = set() if seen is None else seen
    shown = path if shown is None else shown
    if osp.abspath(path) in seen or not path.endswith('.py'):
        return
    seen.add(osp.abspath(path))
    try:
        with open(path, encoding='utf-8') as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f'config {shown!r} cannot be read: '
                          f'{getattr(error, "strerror", None) or error}')
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        raise ConfigError(f'config {shown!r}, line {error.lineno}: invalid '
                          f'Python: {error.msg}') from None
    for base, line in _local_bases(tree, path):
        if not osp.isfile(base):
            raise ConfigError(f'config {shown!r}, line {line}: its _base_ '
                              f'file {base!r} does not exist')
        check_config_source(base, base, seen)


def _config_line(error: BaseException, files: Sequence[str]) -> str:
    """', line N' of the innermost traceback frame in one of ``files``."""
    wanted = {osp.abspath(f) for f in files}
    line = ''
    for frame in traceback.extract_tb(error.__traceback__):
        if osp.abspath(frame.filename) in wanted:
            line = f', line {frame.lineno}'
    return line


def read_config(path: str):
    """``Config.fromfile(path)``; a missing file raises
    :class:`MissingFileError`, invalid Python, a missing base or an error
    while the config runs one :class:`ConfigError`."""
    from mmengine.config import Config
    if not osp.exists(path):
        raise MissingFileError(f'config file {path!r} does not exist')
    if not osp.isfile(path):
        raise ConfigError(f'config {path!r} is not a file')
    check_config_source(path)
    try:
        return Config.fromfile(path)
    except Exception as error:  # the config's own code failed: user input
        message = str(error).splitlines()[0] if str(error) else ''
        raise ConfigError(f'config {path!r}{_config_line(error, [path])}: '
                          f'{type(error).__name__}: {message}') from error


# ---- --cfg-options ----------------------------------------------------------
#: top-level keys that mmengine's Runner (and its hooks, the libraries'
#: runners and these tools) read from a config; any other top-level key is a
#: variable of the config file, used only while the file is read
RUNTIME_KEYS = frozenset({
    'activation_checkpointing', 'auto_scale_lr', 'compile', 'custom_hooks',
    'custom_imports', 'data_preprocessor', 'default_hooks', 'default_scope',
    'efficient_conv_bn_eval', 'env_cfg', 'experiment_name',
    'find_unused_parameters', 'launcher', 'load_from', 'log_level',
    'log_processor', 'model', 'model_wrapper_cfg', 'optim_wrapper',
    'param_scheduler', 'randomness', 'resume', 'runner_type', 'strategy',
    'test_cfg', 'test_dataloader', 'test_evaluator', 'train_cfg',
    'train_dataloader', 'tta_model', 'tta_pipeline', 'val_cfg',
    'val_dataloader', 'val_evaluator', 'visualizer', 'work_dir'
})


def _is_mapping(node) -> bool:
    return hasattr(node, 'keys') and hasattr(node, '__getitem__') and \
        not isinstance(node, (str, bytes))


def config_items(node, path: str = '', depth: int = 0):
    """Every ``(dotted key, value)`` of a config (list items as
    ``key.0``)."""
    if depth > MAX_DEPTH:
        return
    if _is_mapping(node):
        children = [(str(k), node[k]) for k in node.keys()]
    elif isinstance(node, (list, tuple)):
        children = [(str(i), v) for i, v in enumerate(node)]
    else:
        return
    for key, value in children:
        child = f'{path}.{key}' if path else key
        yield child, value
        yield from config_items(value, child, depth + 1)


def config_keys(node) -> Iterator[str]:
    """Every dotted key of a config."""
    return (key for key, _ in config_items(node))


def nearest_keys(cfg, key: str, count: int = 3) -> List[str]:
    """Existing keys close to ``key``: first those whose last part is close
    to its last part (``max_epochs`` -> ``train_cfg.max_epochs``), then
    those close as a whole."""
    keys = list(config_keys(cfg))
    last = key.rsplit('.', 1)[-1]
    by_tail, by_whole = [], []
    for candidate in keys:
        tail = candidate.rsplit('.', 1)[-1]
        tail_ratio = difflib.SequenceMatcher(None, last, tail).ratio()
        whole_ratio = difflib.SequenceMatcher(None, key, candidate).ratio()
        if tail_ratio >= 0.75:
            by_tail.append((-tail_ratio, -whole_ratio, candidate))
        elif whole_ratio >= 0.6:
            by_whole.append((-whole_ratio, candidate))
    chosen = [c for *_, c in sorted(by_tail)] or \
        [c for _, c in sorted(by_whole)]
    return chosen[:count]


def _missing_part(cfg, key: str) -> Optional[str]:
    """None if ``key`` exists in ``cfg``, else why not."""
    node = cfg
    parts = key.split('.')
    for index, part in enumerate(parts):
        here = '.'.join(parts[:index + 1])
        if _is_mapping(node):
            if part not in node:
                return f'the config has no key {here!r}'
            node = node[part]
        elif isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                return (f'{".".join(parts[:index])!r} is a list of '
                        f'{len(node)} items, {part!r} is not an index of it')
            node = node[int(part)]
        else:
            parent = '.'.join(parts[:index])
            return f'{parent!r} is {node!r}, which has no key {part!r}'
    return None


def _value(cfg, key: str):
    node = cfg
    for part in key.split('.'):
        node = node[int(part)] if isinstance(node, (list, tuple)) else \
            node[part]
    return node


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # tensors, arrays: not a config variable's value
        return False


def _variable_problem(cfg, key: str, options: Dict) -> Optional[str]:
    """None unless ``key`` lies in a top-level variable of the config file
    (not read at run time); then the error, naming the keys that took its
    value when the file was read. Setting the variable together with every
    key of the same name and value (a redundant but consistent override)
    is allowed."""
    top = key.split('.', 1)[0]
    if top in RUNTIME_KEYS or top.startswith('_'):
        return None
    value = _value(cfg, key)
    tail = key.rsplit('.', 1)[-1]
    fed, also = [], []
    for path, other in config_items(cfg):
        if path == top or path.startswith(f'{top}.') or \
                not _same(other, value):
            continue
        if path.rsplit('.', 1)[-1] == tail:
            fed.append(path)
        elif not isinstance(value, (bool, type(None))) and \
                value not in (0, 1) and not _is_mapping(other):
            also.append(path)
    if fed and all(path in options for path in fed):
        return None
    users = (fed + also)[:4] or [
        near for near in nearest_keys(cfg, key, count=6)
        if near != top and not near.startswith(f'{top}.')
    ][:3]
    where = (f'set those keys instead: {", ".join(users)}'
             if users else 'set the keys that use it instead')
    return (f'--cfg-options {key}: {top!r} is a variable of the config '
            'file, copied into the keys that use it when the file was read, '
            f'so setting it changes nothing; {where} (or write +{key}=... '
            'to set it anyway)')


def check_cfg_options(cfg, options: Dict) -> None:
    """Raise :class:`ConfigError` for a ``--cfg-options`` key the config
    does not have, or one in a top-level variable of the config file that
    nothing reads at run time (keys written ``+key`` are not checked)."""
    for key in options:
        if key.startswith('+') or key.rsplit('.', 1)[-1] == '_delete_':
            continue
        problem = _missing_part(cfg, key)
        if problem is None:
            variable = _variable_problem(cfg, key, options)
            if variable:
                raise ConfigError(variable)
            continue
        near = nearest_keys(cfg, key)
        near_text = (f'nearest existing keys: {", ".join(near)}'
                     if near else 'no existing key is close')
        raise ConfigError(f'--cfg-options {key}: {problem}; {near_text} (to '
                          f'add a new key, write +{key}=...)')


def apply_cfg_options(cfg, options: Optional[Dict]) -> None:
    """Check ``--cfg-options`` against ``cfg`` (:func:`check_cfg_options`)
    and merge them; a leading ``+`` (a new key) is dropped."""
    if not options:
        return
    check_cfg_options(cfg, options)
    cfg.merge_from_dict({key.lstrip('+'): v for key, v in options.items()})


# ---- data -------------------------------------------------------------------
REMOTE = ('://', 's3:', 'petrel:')


def _datasets(node, path: str) -> Iterator[Tuple[str, dict]]:
    """``(key path, dataset cfg)`` of a dataset and the datasets a wrapper
    (RepeatDataset, ConcatDataset, ...) holds."""
    if not _is_mapping(node):
        return
    yield path, node
    if _is_mapping(node.get('dataset', None)):
        yield from _datasets(node['dataset'], f'{path}.dataset')
    for index, inner in enumerate(node.get('datasets', None) or ()):
        yield from _datasets(inner, f'{path}.datasets.{index}')


def _local(path) -> bool:
    return isinstance(path,
                      str) and bool(path) and not any(marker in path
                                                      for marker in REMOTE)


def check_data(cfg, loaders: Sequence[str]) -> None:
    """Raise :class:`DataError` if a dataset of ``loaders`` (e.g.
    ``train_dataloader``) names a local ``data_root`` or ``ann_file`` that
    does not exist. Datasets read through ``backend_args`` (object storage
    with path mapping) are not checked."""
    for loader in loaders:
        loader_cfg = cfg.get(loader, None)
        if not _is_mapping(loader_cfg):
            continue
        for key_path, dataset in _datasets(
                loader_cfg.get('dataset', None), f'{loader}.dataset'):
            if dataset.get('backend_args', None) or dataset.get(
                    'file_client_args', None):
                continue
            data_root = dataset.get('data_root', None)
            if _local(data_root) and not osp.exists(data_root):
                raise DataError(
                    f'dataset not found: {key_path}.data_root {data_root!r} '
                    'does not exist (prepare the data there, or point the '
                    f'config at it: --cfg-options {key_path}.data_root=PATH)')
            ann_file = dataset.get('ann_file', None)
            if not _local(ann_file):
                continue
            if _local(data_root) and not osp.isabs(ann_file):
                ann_file = osp.join(data_root, ann_file)
            if not osp.exists(ann_file):
                raise DataError(
                    f'dataset not found: {key_path}.ann_file {ann_file!r} '
                    'does not exist (prepare the data there, or point the '
                    f'config at it: --cfg-options {key_path}.ann_file=PATH)')
