#!/usr/bin/env python
# Copyright (c) mmdeepmad authors. All rights reserved.
"""Install mmdeepmad: DeepMAD CNN backbones for OpenMMLab 2.x.

The full, pinned environment (torch 2.14.1, mmcv 2.1.0 with compiled ops,
mmdet/mmseg/mmaction2/mmpretrain) is set up by ``bash tools/setup_env.sh``;
that script installs this package with ``pip install -e . --no-deps``.
"""
import os
import os.path as osp
import shutil
import sys
import warnings
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def readme():
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


def get_version():
    version_file = osp.join(HERE, 'mmdeepmad', 'version.py')
    scope = {}
    with open(version_file, encoding='utf-8') as f:
        exec(compile(f.read(), version_file, 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname, with_version=True):
    """Parse a requirements file, following ``-r other.txt`` includes.

    Comments, blank lines and pip options are dropped. With
    ``with_version=False`` only the package names are returned.
    """
    path = osp.join(HERE, fname)
    reqs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                sub = osp.join(osp.dirname(fname), line[3:].strip())
                reqs.extend(
                    r for r in parse_requirements(sub, with_version)
                    if r not in reqs)
                continue
            if line.startswith('-'):
                continue
            if not with_version:
                for sep in ('==', '>=', '<=', '~=', '!=', '<', '>', ';', '['):
                    line = line.split(sep, 1)[0]
                line = line.strip()
            if line not in reqs:
                reqs.append(line)
    return reqs


def add_mim_extension():
    """Expose configs/tools/model-index.yml to ``mim`` as ``mmdeepmad/.mim``.

    Follows the OpenMMLab convention: symlinks in editable installs, copies
    when building a wheel/sdist. Missing sources are skipped.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(x in sys.argv for x in ('sdist', 'bdist_wheel', 'build')):
        mode = 'copy'
    else:
        return
    filenames = ['tools', 'configs', 'model-index.yml']
    mim_path = osp.join(HERE, 'mmdeepmad', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in filenames:
        src = osp.join(HERE, name)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_path, name)
        if osp.isfile(dst) or osp.islink(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, osp.dirname(dst)), dst)
                continue
            except OSError:
                warnings.warn(f'Failed to symlink {src}; copying instead.')
        if osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst)


EXTRAS = {
    'design': 'requirements/design.txt',
    'classification': 'requirements/classification.txt',
    'detection': 'requirements/detection.txt',
    'segmentation': 'requirements/segmentation.txt',
    'action': 'requirements/action.txt',
    'tests': 'requirements/tests.txt',
    'mim': 'requirements/mminstall.txt',
}

if __name__ == '__main__':
    add_mim_extension()
    extras_require = {k: parse_requirements(v) for k, v in EXTRAS.items()}
    extras_require['all'] = parse_requirements('requirements.txt')
    setup(
        name='mmdeepmad',
        version=get_version(),
        description='DeepMAD (CVPR 2023) CNN backbones for OpenMMLab 2.x',
        long_description=readme(),
        long_description_content_type='text/markdown',
        author='mmdeepmad authors',
        keywords='computer vision, neural architecture design, DeepMAD, '
        'OpenMMLab, backbone',
        packages=find_packages(
            exclude=('tests', 'tests.*', 'configs', 'tools', 'work_dirs')),
        include_package_data=True,
        package_data={
            'mmdeepmad': [
                'presets/*.json', 'reference/tinynas_released.json',
                '.mim/**/*', '.mim/*'
            ],
        },
        python_requires='>=3.11',
        classifiers=[
            'Development Status :: 3 - Alpha',
            'License :: OSI Approved :: Apache Software License',
            'Operating System :: POSIX :: Linux',
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        license='Apache License 2.0',
        install_requires=parse_requirements('requirements/core.txt'),
        extras_require=extras_require,
        zip_safe=False)
