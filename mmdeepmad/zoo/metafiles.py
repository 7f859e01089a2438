# Copyright (c) mmdeepmad authors. All rights reserved.
"""OpenMMLab metafiles (configs/*/metafile.yml) and model-index.yml."""
from __future__ import annotations
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .discovery import discover_configs, find_aliases
from .facts import (COLLECTION, HEADER, IMAGENET_METAFILE, PAPER_DOWNSTREAM,
                    PAPER_IMAGENET_TOP1, PAPER_TITLE, PAPER_URL,
                    RESULTS_SOURCE, TASKS, Progress, sha256)
from .measure import design_quantities, measure_built

#: where checkpoints are looked for (relative to the repository root);
#: tests point it elsewhere
CHECKPOINT_DIR = 'checkpoints'


def _weights(root: str, stem: str) -> Tuple[Optional[str], Optional[str]]:
    rel = f'{CHECKPOINT_DIR}/{stem}.pth'
    path = osp.join(root, rel)
    if osp.isfile(path):
        return rel, sha256(path)
    return None, None


def _dump(data) -> str:
    import yaml
    return HEADER + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=1000)


def _preset_entry(root: str, name: str, measured: Tuple[int, int],
                  quantities: dict, configs: List[dict]) -> dict:
    from mmdeepmad.design.presets import preset_command
    params, flops = measured
    q = quantities
    classifiers = [c for c in configs if c['task'] == 'classification']
    # named after the classifier config: the file downstream configs load
    weights, digest = _weights(root,
                               classifiers[0]['name'] if classifiers else name)
    top1, table = PAPER_IMAGENET_TOP1[name]
    entry = {
        'Name':
        name,
        'In Collection':
        COLLECTION,
        'Config':
        classifiers[0]['config'] if classifiers else None,
        'Metadata': {
            'Training Data': 'ImageNet-1k',
            'FLOPs': flops,
            'Parameters': params,
            'Resolution': q['resolution'],
            'Block': q['block'],
            'Stage Depths': ','.join(str(d) for d in q['depths']),
            'Budget FLOPs': q['budget_flops'],
            'Budget Parameters': q['budget_params'],
            'Budget rho': q['budget_rho'],
            'TinyNAS FLOPs': q['tinynas_flops'],
            'TinyNAS Parameters': q['tinynas_params'],
            'TinyNAS rho': q['tinynas_rho'],
            'TinyNAS Score': q['tinynas_score'],
            'Paper rho': q['paper_rho'],
            'Paper Entropy': q['paper_entropy'],
            'Paper Score': q['paper_score'],
            'Architecture file': f'mmdeepmad/presets/{name}.json',
            'Design Command': preset_command(name),
            'Used By Configs': ','.join(c['config'] for c in configs),
        },
        'Results': [{
            'Task': TASKS['classification'],
            'Dataset': 'ImageNet-1k',
            'Metrics': {
                'Top 1 Accuracy': top1
            },
        }],
        'Results Source':
        RESULTS_SOURCE.format(table=table),
        'Weights':
        weights,
    }
    if digest:
        entry['Weights SHA256'] = digest
    return entry


def _downstream_entry(root: str, config: dict) -> dict:
    key = (config['framework'], config['preset'], config['dataset'])
    paper = PAPER_DOWNSTREAM.get(key)
    weights, digest = _weights(root, config['name'])
    alias = find_aliases(root).get(config['config'])
    entry = {
        'Name': config['name'],
        'In Collection': f"{COLLECTION}-{config['framework']}",
        'Config': config['config'],
        'Metadata': {
            'Training Data': config['dataset'],
            'Backbone': config['preset'],
            'Architecture file': f"mmdeepmad/presets/{config['preset']}.json",
        },
        'Results': None,
        'Weights': weights,
    }
    if alias:
        entry['Metadata']['Alias Config'] = alias
    if paper:
        metric, value, table = paper
        entry['Results'] = [{
            'Task': TASKS[config['task']],
            'Dataset': config['dataset'],
            'Metrics': {
                metric: value
            },
        }]
        entry['Results Source'] = RESULTS_SOURCE.format(table=table)
    else:
        del entry['Results']
        entry['Results Source'] = ('none: the paper reports no result for '
                                   'this framework, backbone and dataset')
    if digest:
        entry['Weights SHA256'] = digest
    return entry


def _collection(name: str,
                training_data: str,
                architecture: List[str],
                readme: str = 'model_zoo.md') -> dict:
    return {
        'Name': name,
        'Metadata': {
            'Training Data': training_data,
            'Architecture': architecture,
        },
        'Paper': {
            'Title': PAPER_TITLE,
            'URL': PAPER_URL
        },
        'README': readme,
        'Code': {
            'URL': 'mmdeepmad/models/backbones/deepmad.py'
        },
    }


def build_metafiles(root: str, progress: Progress = None) -> Dict[str, str]:
    """relative path -> text of every metafile.yml and model-index.yml."""
    from mmdeepmad.design.presets import preset_names
    say = progress or (lambda message: None)
    configs = discover_configs(root, say)
    say(f'{len(configs)} config(s) use a preset')
    by_preset: Dict[str, List[dict]] = {}
    for config in configs:
        by_preset.setdefault(config['preset'], []).append(config)
    primary = set()
    models = []
    for name in preset_names():
        measured = measure_built(name)
        say(f'{name:<16} built: params {measured[0]:>10,d}  FLOPs '
            f'{measured[1]:>15,d} (conv+linear MACs, with 1000-class head)')
        used = by_preset.get(name, [])
        entry = _preset_entry(root, name, measured, design_quantities(name),
                              used)
        if entry['Config']:
            primary.add(entry['Config'])
        models.append(entry)
    files = {
        IMAGENET_METAFILE:
        _dump({
            'Collections': [
                _collection(COLLECTION, 'ImageNet-1k', [
                    'DeepMAD', 'Residual Connection', 'Batch Normalization',
                    'Global Average Pooling'
                ])
            ],
            'Models':
            models
        })
    }
    folders: Dict[str, List[dict]] = {}
    for config in configs:
        if config['config'] in primary:
            continue
        folders.setdefault(config['folder'], []).append(config)
    for folder in sorted(folders):
        path = f'{folder}/metafile.yml'
        collections = []
        seen = set()
        for config in folders[folder]:
            name = f"{COLLECTION}-{config['framework']}"
            if name in seen:
                continue
            seen.add(name)
            collections.append(
                _collection(name, config['dataset'],
                            ['DeepMAD', config['framework']]))
        data = {
            'Collections': collections,
            'Models': [_downstream_entry(root, c) for c in folders[folder]]
        }
        if path == IMAGENET_METAFILE:
            import yaml
            merged = yaml.safe_load(files[path][len(HEADER):])
            merged['Collections'] += [
                c for c in collections
                if c['Name'] not in {x['Name']
                                     for x in merged['Collections']}
            ]
            merged['Models'] += data['Models']
            data = merged
        files[path] = _dump(data)
    files['model-index.yml'] = _dump(
        {'Import': sorted(p for p in files if p.endswith('metafile.yml'))})
    return files
