# Copyright (c) mmdeepmad authors. All rights reserved.
"""Tiny model / dataset / hook for the checkpoint round-trip test; imported
by a config's ``custom_imports`` (registered in mmengine's root registries)."""
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, MODELS
from torch.utils.data import Dataset

RECORD = {}


@MODELS.register_module(force=True)
class MmdeepmadToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(inputs)
        x = self.bn(self.conv(inputs)).relu().mean((2, 3))
        logits = self.fc(x)
        if mode == 'loss':
            if isinstance(labels, (list, tuple)):
                labels = torch.stack(labels)
            return dict(loss=torch.nn.functional.cross_entropy(logits, labels))
        return logits


@DATASETS.register_module(force=True)
class MmdeepmadToyDataset(Dataset):
    """8 fixed random images in memory."""
    METAINFO = dict(classes=('a', 'b'))

    def __init__(self, length=8):
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(length, 3, 8, 8, generator=g)
        self.labels = torch.randint(0, 2, (length, ), generator=g)
        self.metainfo = dict(self.METAINFO)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return dict(inputs=self.images[idx], labels=self.labels[idx])


@HOOKS.register_module(force=True)
class MmdeepmadRecordHook(Hook):
    """Records the state right after (resume) loading, before training."""

    def before_train(self, runner):
        RECORD['epoch'] = runner.epoch
        RECORD['iter'] = runner.iter
        RECORD['state_dict'] = {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }
        RECORD['lr'] = runner.optim_wrapper.get_lr()['lr'][0]
        RECORD['momentum_buffers'] = len(runner.optim_wrapper.optimizer.state)
        RECORD['log_scalars'] = sorted(runner.message_hub.log_scalars)
