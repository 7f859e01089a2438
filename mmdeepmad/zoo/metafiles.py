# Copyright (c) mmdeepmad authors. All rights reserved.
"""OpenMMLab metafiles (configs/*/metafile.yml) and model-index.yml."""
from __future__ import annotations
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .discovery import discover_configs, find_aliases
from .facts import (COLLECTION, HEADER, IMAGENET_METAFILE, OFFICIAL_COLLECTION,
                    PAPER_DOWNSTREAM, PAPER_IMAGENET_TOP1, PAPER_TITLE,
                    PAPER_UNRELEASED_TOP1, PAPER_URL, RESULTS_SOURCE, TASKS,
                    Progress, is_official, official_presets, same_budgets,
                    sha256)
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


def _results(task: str, dataset: str, metric: str, value: float) -> list:
    return [{
        'Task': TASKS[task],
        'Dataset': dataset,
        'Metrics': {
            metric: value
        },
    }]


def _preset_entry(root: str, name: str, measured: Tuple[int, int],
                  quantities: dict, configs: List[dict]) -> dict:
    """The ImageNet entry of a preset: one of our designs, or an official
    network (``tinynas-*``)."""
    from mmdeepmad.arch.loader import load_preset
    from mmdeepmad.design.presets import preset_command
    params, flops = measured
    q = quantities
    official = is_official(name)
    paired = same_budgets(name)
    classifiers = [c for c in configs if c['task'] == 'classification']
    # named after the classifier config: the file downstream configs load
    weights, digest = _weights(root,
                               classifiers[0]['name'] if classifiers else name)
    metadata = {
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
    }
    if official:
        meta = load_preset(name).meta
        metadata.update({
            'TinyNAS Release': meta['release'],
            'TinyNAS Repository': meta['repository'],
            'TinyNAS Commit': meta['commit'],
            'TinyNAS Structure File': meta['source'],
            'TinyNAS Config': meta['config'],
            'Official Weights': meta['weights_url'],
            'Import Command': meta['command'],
        })
    else:
        metadata['Design Command'] = preset_command(name)
    if paired:
        metadata['Same Budgets As'] = paired
    metadata['Used By Configs'] = ','.join(c['config'] for c in configs)
    entry = {
        'Name': name,
        'In Collection': OFFICIAL_COLLECTION if official else COLLECTION,
        'Config': classifiers[0]['config'] if classifiers else None,
        'Metadata': metadata,
    }
    if name in PAPER_IMAGENET_TOP1:
        top1, table = PAPER_IMAGENET_TOP1[name]
        entry['Results'] = _results('classification', 'ImageNet-1k',
                                    'Top 1 Accuracy', top1)
        entry['Results Source'] = RESULTS_SOURCE.format(table=table)
    elif paired in PAPER_IMAGENET_TOP1:
        top1, table = PAPER_IMAGENET_TOP1[paired]
        entry['Results Source'] = (
            f'none: an mmdeepmad design, not trained here; the paper reports '
            f'{top1} top-1 ({table}) for the official network of the same '
            f'budgets, {paired}')
    elif name in PAPER_UNRELEASED_TOP1:
        top1, table, paper_name = PAPER_UNRELEASED_TOP1[name]
        entry['Results Source'] = (
            f'none: an mmdeepmad design, not trained here; the paper reports '
            f'{top1} top-1 ({table}) for its {paper_name}, a network of the '
            'same budgets whose structure TinyNAS did not release')
    else:
        entry['Results Source'] = 'none: not trained here'
    entry['Weights'] = weights
    if digest:
        entry['Weights SHA256'] = digest
    return entry


def _downstream_entry(root: str, config: dict) -> dict:
    network = config['preset']
    paper = PAPER_DOWNSTREAM.get(
        (config['framework'], network, config['dataset']))
    weights, digest = _weights(root, config['name'])
    alias = find_aliases(root).get(config['config'])
    entry = {
        'Name': config['name'],
        'In Collection': f"{COLLECTION}-{config['framework']}",
        'Config': config['config'],
        'Metadata': {
            'Training Data': config['dataset'],
            'Backbone': network,
            'Architecture file': f'mmdeepmad/presets/{network}.json',
        },
        'Results': None,
        'Weights': weights,
    }
    if alias:
        entry['Metadata']['Alias Config'] = alias
    official = same_budgets(network) if not is_official(network) else None
    official_paper = PAPER_DOWNSTREAM.get(
        (config['framework'], official, config['dataset']))
    if paper:
        metric, value, table = paper
        entry['Results'] = _results(config['task'], config['dataset'], metric,
                                    value)
        entry['Results Source'] = RESULTS_SOURCE.format(table=table)
    elif official_paper:
        metric, value, table = official_paper
        del entry['Results']
        entry['Results Source'] = (
            f'none: the paper reports {value} {metric} ({table}) with the '
            f'official network of the same budgets, {official}; this '
            'config uses the mmdeepmad design')
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
    for name in preset_names() + official_presets():
        measured = measure_built(name)
        say(f'{name:<24} built: params {measured[0]:>10,d}  FLOPs '
            f'{measured[1]:>15,d} (conv+linear MACs, with 1000-class head)')
        used = by_preset.get(name, [])
        entry = _preset_entry(root, name, measured, design_quantities(name),
                              used)
        if entry['Config']:
            primary.add(entry['Config'])
        models.append(entry)
    architecture = [
        'DeepMAD', 'Residual Connection', 'Batch Normalization',
        'Global Average Pooling'
    ]
    collections = [_collection(COLLECTION, 'ImageNet-1k', architecture)]
    if any(m['In Collection'] == OFFICIAL_COLLECTION for m in models):
        collections.append(
            _collection(OFFICIAL_COLLECTION, 'ImageNet-1k',
                        architecture + ['TinyNAS']))
    files = {
        IMAGENET_METAFILE: _dump({
            'Collections': collections,
            'Models': models
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
