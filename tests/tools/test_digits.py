# Copyright (c) mmdeepmad authors. All rights reserved.
"""The digits end-to-end script, shortened: real data (scikit-learn's
digits), the architecture designed by tools/design.py, 5 epochs on half the
training split with tools/train.py; the network must clearly learn."""
import glob
import json
import os.path as osp
import runpy

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_digits_end_to_end_shortened(tmp_path, capsys):
    script = runpy.run_path(
        osp.join(REPO_ROOT, 'tools', 'misc', 'digits_end_to_end.py'))
    accuracy = script['main']([
        '--work-dir',
        str(tmp_path), '--epochs', '5', '--train-fraction', '0.5',
        '--min-accuracy', '80'
    ])
    printed = capsys.readouterr().out
    assert 'identical to the committed' in printed
    assert 'validation top-1' in printed and 'total' in printed
    # ten classes: chance is 10 %
    assert accuracy >= 80
    # 718 training images of every class and the full validation split
    for split, count in (('train', 718), ('val', 360)):
        files = glob.glob(str(tmp_path / 'data' / split / '*' / '*.png'))
        assert len(files) == count
        assert len({osp.basename(osp.dirname(f)) for f in files}) == 10
    scalars = glob.glob(
        str(tmp_path / 'train' / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars[0]) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) >= 3
    assert sum(losses[-2:]) / 2 < 0.5 * losses[0]
