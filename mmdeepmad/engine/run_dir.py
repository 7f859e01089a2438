# Copyright (c) mmdeepmad authors. All rights reserved.
"""Leave nothing behind when a run fails before it starts.

mmengine's ``Runner`` creates ``work_dir`` and ``work_dir/<timestamp>/``
(log, ``vis_data``) and dumps the config as soon as it is built, and builds
the datasets only when ``train()``/``test()`` begins. :func:`build_loops`
builds them right after the Runner (a dataset that cannot be found becomes a
:class:`~mmdeepmad.engine.errors.DataError`), and :class:`RunDirGuard`
removes what the Runner created if that fails or Ctrl-C comes first.
"""
import os
import os.path as osp
import shutil
from typing import Optional, Sequence

from .errors import DataError

#: Runner loop property -> the config's dataloader key
LOOP_LOADERS = {
    'train_loop': 'train_dataloader',
    'val_loop': 'val_dataloader',
    'test_loop': 'test_dataloader',
}


class RunDirGuard:
    """Remember what exists of ``work_dir`` now; :meth:`clean` removes what
    was created since (the directory itself, and missing parents, if it did
    not exist)."""

    def __init__(self, work_dir: str):
        self.work_dir = osp.abspath(work_dir)
        # the outermost directory this run will create, if any
        self.created_root: Optional[str] = None
        path = self.work_dir
        while not osp.exists(path) and osp.dirname(path) != path:
            self.created_root = path
            path = osp.dirname(path)
        self.before = set() if self.created_root else set(
            os.listdir(self.work_dir))

    def clean(self) -> None:
        if self.created_root is not None:
            shutil.rmtree(self.created_root, ignore_errors=True)
            return
        if not osp.isdir(self.work_dir):
            return
        for name in set(os.listdir(self.work_dir)) - self.before:
            path = osp.join(self.work_dir, name)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def build_loops(runner, loops: Sequence[str]) -> None:
    """Build the Runner's loops (and so their datasets) now; a missing data
    file raises :class:`DataError` naming the dataloader and the path."""
    for loop in loops:
        if not hasattr(type(runner), loop):  # a custom runner type
            continue
        try:
            getattr(runner, loop)
        except FileNotFoundError as error:
            path = getattr(error, 'filename', None)
            detail = (f'{path!r} does not exist'
                      if path else str(error).splitlines()[0])
            raise DataError(f'dataset not found: {LOOP_LOADERS[loop]}: '
                            f'{detail}') from error
