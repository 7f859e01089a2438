# Copyright (c) mmdeepmad authors. All rights reserved.
"""Write the official DeepMAD networks as presets:
mmdeepmad/presets/tinynas-deepmad-*.json.

The official networks are the structures TinyNAS (the DeepMAD authors' code,
alibaba/lightweight-neural-architecture-search) released in
``configs/classification/models/deepmad-*.txt``. Each is converted with
:func:`mmdeepmad.arch.tinynas_format.spec_from_tinynas` (the family's
activation: ReLU for the ResNet-like ones, SiLU for the SE ones), at the
``image_size`` of its search config ``configs/classification/deepmad_*.py``,
named after the preset, with ``meta`` recording where it came from: the
release, the structure file, the config, the commit, the config's budgets
(``flops``, ``model_size`` and ``efficient_score`` as ``flops``, ``params``,
``rho``), the convention ``tinynas`` the budgets are counted in, and the
download link of the release's weights (from TinyNAS's README).

The ``structure_info`` inside a search config is *not* the network: it is
where TinyNAS's evolutionary search starts. The network is the ``.txt``.

Usage::

    python tools/misc/import_tinynas_presets.py TINYNAS [--rev REV]
        [--commit SHA] [--out-dir DIR] [--check] [NAME ...]

``TINYNAS`` is a TinyNAS checkout (a work tree, or a bare git repository
such as a mirror: files are then read with ``git show REV:path``; an
unpacked archive without history needs ``--commit``). The files
are written canonically (``ArchSpec.to_json()``, atomic rename), so running
it on the same commit reproduces the committed presets byte for byte;
``--check`` writes nothing and exits 1 when a committed preset differs. The
committed JSON files are the facts mmdeepmad uses; nothing reads the TinyNAS
checkout at run time, and the tests never run this tool.

Exit status: 0 done, 1 ``--check`` found a difference, 2 bad input (no such
checkout, a file missing from it, a structure that does not convert).
"""
import argparse
import ast
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmdeepmad.arch.loader import PRESET_DIR  # noqa: E402
from mmdeepmad.arch.spec import ArchSpec, SpecError  # noqa: E402
from mmdeepmad.arch.tinynas_format import (  # noqa: E402
    parse_tinynas_structures, spec_from_tinynas)

PROG = 'import_tinynas_presets.py'

REPOSITORY = 'alibaba/lightweight-neural-architecture-search'
MODELS_DIR = 'configs/classification/models'
CONFIG_DIR = 'configs/classification'

#: preset name -> (TinyNAS release name = models/<name>.txt, search config)
RELEASES: Dict[str, tuple] = {
    'tinynas-deepmad-r18': ('deepmad-R18', 'deepmad_R18_FLOPs.py'),
    'tinynas-deepmad-r34': ('deepmad-R34', 'deepmad_R34_FLOPs.py'),
    'tinynas-deepmad-r50': ('deepmad-R50', 'deepmad_R50_FLOPs.py'),
    'tinynas-deepmad-29m': ('deepmad-29M-224', 'deepmad_29M_224.py'),
    'tinynas-deepmad-29m-288': ('deepmad-29M-288', 'deepmad_29M_288.py'),
    'tinynas-deepmad-50m': ('deepmad-50M', 'deepmad_50M.py'),
    'tinynas-deepmad-89m': ('deepmad-89M', 'deepmad_89M.py'),
}
#: TinyNAS budget type -> spec budget key
BUDGET_TYPES = {
    'flops': 'flops',
    'model_size': 'params',
    'efficient_score': 'rho'
}
COMMAND = 'python tools/misc/import_tinynas_presets.py TINYNAS_CHECKOUT'


class ImportFailure(Exception):
    """Bad input: the message says what and where."""


class Checkout:
    """Files of a TinyNAS checkout, from a work tree or a bare repository."""

    def __init__(self,
                 path: str,
                 rev: str = 'HEAD',
                 commit: Optional[str] = None):
        if not osp.isdir(path):
            raise ImportFailure(f'{path}: no such directory (give a TinyNAS '
                                'checkout or a bare clone of it)')
        self.path = path
        self.rev = rev
        self.work_tree = osp.isdir(osp.join(path, CONFIG_DIR))
        if not self.work_tree and not (osp.isfile(osp.join(path, 'HEAD')) and
                                       osp.isdir(osp.join(path, 'objects'))):
            raise ImportFailure(
                f'{path}: neither a TinyNAS work tree (no {CONFIG_DIR}/) nor '
                'a bare git repository')
        self.commit = commit or self._commit()

    def _git(self, *args: str) -> str:
        where = ['-C', self.path
                 ] if self.work_tree else ['--git-dir', self.path]
        try:
            result = subprocess.run(['git', *where, *args],
                                    capture_output=True,
                                    text=True,
                                    check=False)
        except OSError as error:
            raise ImportFailure(f'cannot run git: {error}') from None
        if result.returncode != 0:
            raise ImportFailure(f'git {" ".join(args)} in {self.path}: '
                                f'{result.stderr.strip()}')
        return result.stdout

    def _commit(self) -> str:
        if self.work_tree and self.rev != 'HEAD':
            raise ImportFailure('--rev needs a bare repository; check the '
                                'revision out in the work tree instead')
        if self.work_tree and not osp.exists(osp.join(self.path, '.git')):
            # (git would answer for an enclosing repository)
            raise ImportFailure(
                f'{self.path}: a work tree without git history (e.g. an '
                'unpacked archive): give its commit with --commit')
        return self._git('rev-parse', f'{self.rev}^{{commit}}').strip()

    def read(self, rel: str) -> str:
        if self.work_tree:
            path = osp.join(self.path, rel)
            if not osp.isfile(path):
                raise ImportFailure(f'{path}: missing from the checkout')
            with open(path, encoding='utf-8') as handle:
                return handle.read()
        try:
            return self._git('show', f'{self.commit}:{rel}')
        except ImportFailure:
            raise ImportFailure(f'{rel}: missing from {self.path} at '
                                f'{self.commit[:7]}') from None


def _module_value(source: str, name: str, where: str):
    """The literal value of a top-level ``name = ...`` of a config."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ImportFailure(f'{where}: not Python ({error})') from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == name):
            try:
                return _literal(node.value)
            except ValueError:
                break
    raise ImportFailure(f'{where}: no literal top-level {name!r}')


def _literal(node):
    """``ast.literal_eval`` that also reads ``dict(key=value, ...)``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    return ast.literal_eval(node)


def config_facts(source: str, where: str) -> dict:
    """``image_size`` and budgets ``{flops, params, rho}`` of a config."""
    image_size = _module_value(source, 'image_size', where)
    budgets = {}
    for item in _module_value(source, 'budgets', where):
        kind = item.get('type') if isinstance(item, dict) else None
        if kind not in BUDGET_TYPES:
            raise ImportFailure(f'{where}: unknown budget {item!r}; known '
                                f'types: {sorted(BUDGET_TYPES)}')
        budgets[BUDGET_TYPES[kind]] = float(item['budget'])
    if sorted(budgets) != sorted(BUDGET_TYPES.values()):
        raise ImportFailure(f'{where}: budgets {budgets} lack one of '
                            f'{sorted(BUDGET_TYPES)}')
    if not isinstance(image_size, int) or image_size <= 0:
        raise ImportFailure(f'{where}: image_size must be a positive '
                            f'integer, got {image_size!r}')
    return dict(image_size=image_size, budgets=budgets)


def weights_url(readme: str, structure_file: str) -> Optional[str]:
    """The ``[model](URL)`` link of the README row naming the structure."""
    for line in readme.splitlines():
        if f'({structure_file})' in line:
            match = re.search(r'\[model\]\(([^)\s]+)\)', line)
            if match:
                return match.group(1)
    return None


def import_preset(checkout: Checkout, name: str) -> ArchSpec:
    release, config = RELEASES[name]
    structure_file = f'{MODELS_DIR}/{release}.txt'
    config_file = f'{CONFIG_DIR}/{config}'
    facts = config_facts(checkout.read(config_file), config_file)
    try:
        structures = parse_tinynas_structures(
            checkout.read(structure_file), where=structure_file)
        if len(structures) != 1:
            raise ImportFailure(f'{structure_file}: holds {len(structures)} '
                                'structures, expected one')
        spec = spec_from_tinynas(
            structures[0], resolution=facts['image_size'], name=name)
    except SpecError as error:
        raise ImportFailure(str(error)) from None
    readme = checkout.read('README.md')
    url = weights_url(readme, structure_file)
    if url is None:
        raise ImportFailure(f'README.md: no [model](...) link in the row of '
                            f'{structure_file}')
    meta = dict(
        budgets=facts['budgets'],
        command=COMMAND,
        commit=checkout.commit,
        config=config_file,
        convention='tinynas',
        release=release,
        repository=REPOSITORY,
        source=structure_file,
        weights_url=url)
    return spec.replace(meta=meta)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0].replace('\n', ' '),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='The committed presets come from TinyNAS at 8ccaf88.')
    parser.add_argument(
        'tinynas', help='TinyNAS checkout (work tree or bare git repository)')
    parser.add_argument(
        'names',
        nargs='*',
        metavar='NAME',
        help=f'presets to write (default: all: {", ".join(RELEASES)})')
    parser.add_argument(
        '--rev',
        default='HEAD',
        help='revision to read from a bare repository (default: HEAD)')
    parser.add_argument(
        '--commit',
        default=None,
        help='the commit a work tree without git history holds (recorded '
        'in meta; default: asked from git)')
    parser.add_argument(
        '--out-dir',
        default=PRESET_DIR,
        help='where to write <name>.json (default: mmdeepmad/presets)')
    parser.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 if a preset in --out-dir differs')
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in RELEASES]
    if unknown:
        parser.error(f'unknown preset(s) {unknown}; known: '
                     f'{", ".join(RELEASES)}')
    try:
        checkout = Checkout(args.tinynas, args.rev, args.commit)
        specs = [import_preset(checkout, n) for n in args.names or RELEASES]
    except ImportFailure as error:
        print(f'{PROG}: error: {error}', file=sys.stderr)
        return 2
    print(f'TinyNAS {checkout.commit} ({args.tinynas})')
    differ = []
    for spec in specs:
        path = osp.join(args.out_dir, f'{spec.name}.json')
        text = spec.to_json()
        summary = (f'{spec.name:<24} <- {spec.meta["source"]} at '
                   f'{spec.resolution} px, {spec.blocks[0]}/{spec.act}, '
                   f'depths {list(spec.depths)}')
        if args.check:
            current = None
            if osp.isfile(path):
                with open(path, encoding='utf-8') as handle:
                    current = handle.read()
            state = 'same' if current == text else 'DIFFERS'
            if current != text:
                differ.append(path)
            print(f'{summary}: {state}')
            continue
        os.makedirs(args.out_dir, exist_ok=True)
        temporary = path + '.tmp'
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write(text)
        os.replace(temporary, path)
        print(f'{summary} -> {path}')
    if args.check:
        print('up to date' if not differ else
              f'{len(differ)} preset(s) differ; rerun without --check')
    return 1 if differ else 0


if __name__ == '__main__':
    sys.exit(main())
