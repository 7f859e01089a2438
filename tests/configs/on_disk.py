# Copyright (c) mmdeepmad authors. All rights reserved.
"""Tiny datasets written in each benchmark's real on-disk layout.

Images are seeded noise with a class-dependent tint (so a classifier can
learn something); every writer is deterministic and returns the paths a
config needs. Layouts:

* class folders (mmpretrain ``CustomDataset``): ``{train,val}/<class>/*.png``.
* ImageNet (mmpretrain ``ImageNet``): ``train/<wnid>/<wnid>_<i>.JPEG``,
  ``val/ILSVRC2012_val_<i>.JPEG`` and ``meta/{train,val}.txt``.
* COCO (mmdet ``CocoDataset``): ``annotations/instances_{train,val}2017.json``
  and ``{train,val}2017/<id:012d>.jpg``.
* ADE20K (mmseg ``ADE20KDataset``): ``ADEChallengeData2016/images/
  {training,validation}/ADE_*_<i>.jpg`` with ``annotations/.../*.png``
  label maps (0 = other, 1..150 = classes).
* Rawframes (mmaction ``RawframeDataset``, Kinetics-400 and UCF101):
  ``<video>/img_00001.jpg ...`` and an annotation list of
  ``<video> <frames> <label>`` lines.
"""
import json
import os
import os.path as osp
from typing import Dict, Tuple

import numpy as np
from PIL import Image


def _image(rng, height: int, width: int, label: int = 0) -> np.ndarray:
    """An RGB uint8 image: noise plus a tint that depends on ``label``."""
    tint = np.array([(label * 83) % 256, (label * 47 + 60) % 256,
                     (label * 139 + 120) % 256])
    noise = rng.integers(0, 96, size=(height, width, 3))
    return np.clip(noise + tint * 0.6, 0, 255).astype(np.uint8)


def _save_jpeg(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def write_imagenet(root: str,
                   num_classes: int = 3,
                   per_class: int = 4,
                   size: int = 40,
                   seed: int = 0) -> str:
    """ImageNet-1k layout under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    train_lines, val_lines = [], []
    for label in range(num_classes):
        wnid = f'n{label:08d}'
        for index in range(per_class):
            name = f'{wnid}/{wnid}_{index}.JPEG'
            _save_jpeg(
                osp.join(root, 'train', name), _image(rng, size, size, label))
            train_lines.append(f'{name} {label}')
    for index in range(num_classes * 2):
        label = index % num_classes
        name = f'ILSVRC2012_val_{index + 1:08d}.JPEG'
        _save_jpeg(osp.join(root, 'val', name), _image(rng, size, size, label))
        val_lines.append(f'{name} {label}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, lines in (('train', train_lines), ('val', val_lines)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def write_class_folders(root: str,
                        num_classes: int = 2,
                        per_class: int = 3,
                        size: int = 32,
                        seed: int = 0) -> str:
    """A class-folder dataset (``{train,val}/<class>/<i>.png``, what
    ``CustomDataset`` scans without an annotation file); returns ``root``."""
    rng = np.random.default_rng(seed)
    for split in ('train', 'val'):
        for label in range(num_classes):
            for index in range(per_class):
                path = osp.join(root, split, str(label), f'{index:04d}.png')
                os.makedirs(osp.dirname(path), exist_ok=True)
                Image.fromarray(_image(rng, size, size, label)).save(path)
    return root


def write_coco(root: str,
               num_images: int = 3,
               size: Tuple[int, int] = (48, 64),
               seed: int = 0) -> Dict[str, str]:
    """COCO 2017 detection layout; returns the annotation file of each
    split. All 80 COCO categories are declared (mmdet maps labels to them by
    name); every image has two boxes of the first three (person, bicycle,
    car)."""
    from mmdet.datasets import CocoDataset
    rng = np.random.default_rng(seed)
    height, width = size
    categories = [
        dict(id=index + 1, name=name, supercategory='none')
        for index, name in enumerate(CocoDataset.METAINFO['classes'])
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_files = {}
    ann_id = 1
    for split_index, split in enumerate(('train2017', 'val2017')):
        images, annotations = [], []
        for index in range(num_images):
            image_id = split_index * 1000 + index + 1
            file_name = f'{image_id:012d}.jpg'
            _save_jpeg(
                osp.join(root, split, file_name),
                _image(rng, height, width, index))
            images.append(
                dict(
                    id=image_id,
                    file_name=file_name,
                    height=height,
                    width=width))
            for box in range(2):
                x, y = 4 + 20 * box, 6 + 8 * box
                w, h = 18 + 4 * index, 16 + 2 * box
                annotations.append(
                    dict(
                        id=ann_id,
                        image_id=image_id,
                        category_id=1 + (index + box) % 3,
                        bbox=[x, y, w, h],
                        area=w * h,
                        iscrowd=0,
                        segmentation=[[x, y, x + w, y, x + w, y + h, x,
                                       y + h]]))
                ann_id += 1
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(
                dict(
                    images=images,
                    annotations=annotations,
                    categories=categories), f)
        ann_files[split] = path
    return ann_files


def write_ade20k(root: str,
                 num_images: int = 2,
                 size: Tuple[int, int] = (48, 64),
                 seed: int = 0) -> str:
    """ADE20K (ADEChallengeData2016) layout; returns its directory."""
    rng = np.random.default_rng(seed)
    height, width = size
    data_root = osp.join(root, 'ADEChallengeData2016')
    for split, tag in (('training', 'train'), ('validation', 'val')):
        for index in range(num_images):
            name = f'ADE_{tag}_{index + 1:08d}'
            _save_jpeg(
                osp.join(data_root, 'images', split, f'{name}.jpg'),
                _image(rng, height, width, index))
            labels = np.zeros((height, width), np.uint8)  # 0: "other"
            labels[:height // 2] = 1 + index  # class index + 1
            labels[height // 2:, :width // 2] = 3 + index
            path = osp.join(data_root, 'annotations', split, f'{name}.png')
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(labels).save(path)
    return data_root


def write_rawframes(root: str,
                    ann_file: str,
                    num_videos: int = 4,
                    num_frames: int = 6,
                    num_classes: int = 2,
                    size: Tuple[int, int] = (40, 48),
                    class_dirs: bool = False,
                    seed: int = 0) -> str:
    """Rawframes of ``num_videos`` videos under ``root`` (UCF101 nests them
    in class directories: ``class_dirs=True``) and their annotation list
    ``ann_file``; returns ``ann_file``."""
    rng = np.random.default_rng(seed)
    height, width = size
    lines = []
    for index in range(num_videos):
        label = index % num_classes
        video = f'video_{index:03d}'
        if class_dirs:
            video = f'Class{label}/v_Class{label}_g01_c{index + 1:02d}'
        for frame in range(num_frames):
            _save_jpeg(
                osp.join(root, video, f'img_{frame + 1:05d}.jpg'),
                _image(rng, height, width, label))
        lines.append(f'{video} {num_frames} {label}')
    os.makedirs(osp.dirname(ann_file) or '.', exist_ok=True)
    with open(ann_file, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann_file


def write_all(root: str) -> dict:
    """One tiny dataset of every layout under ``root``: what
    :func:`tests.configs.shrink.shrink` points configs at."""
    frames = osp.join(root, 'rawframes')
    coco = osp.join(root, 'coco')
    write_coco(coco, num_images=4)
    return dict(
        imagenet=write_imagenet(
            osp.join(root, 'imagenet'), num_classes=2, per_class=2, size=40),
        folders=write_class_folders(
            osp.join(root, 'folders'), num_classes=2, per_class=2),
        coco=coco,
        ade20k=write_ade20k(osp.join(root, 'ade'), num_images=2),
        rawframes=frames,
        rawframes_train_list=write_rawframes(
            frames, osp.join(root, 'train_list.txt'), class_dirs=True),
        rawframes_val_list=write_rawframes(
            frames, osp.join(root, 'val_list.txt'), class_dirs=True))
