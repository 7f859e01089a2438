"""The batched paper-convention scorer equals the spec-by-spec reference."""
import numpy as np
import pytest

from mmdeepmad.arch.spec import BLOCK_FAMILIES
from mmdeepmad.conventions import default_alpha
from mmdeepmad.conventions.counters import count
from mmdeepmad.conventions.paper import paper_score
from mmdeepmad.design.batched_paper import evaluate_paper
from mmdeepmad.design.search_space import Candidates, SearchSpace


@pytest.mark.parametrize('style', ['tinynas', 'torchvision'])
@pytest.mark.parametrize('block', BLOCK_FAMILIES)
def test_batched_equals_reference(block, style):
    rng = np.random.default_rng(7)
    space = SearchSpace.for_block(block, style=style, resolution=96)
    M = space.num_stages
    rows = []
    for trial in range(12):
        stem = int(rng.integers(1, 5) * 8)
        out = rng.integers(1, 30, M) * 8
        if trial % 3 == 0:
            out[0] = stem  # in == out: identity shortcuts
        rows.append((stem, out, rng.integers(1, 30, M) * 8,
                     rng.choice(space.kernels, M), rng.integers(1, 5, M)))
    batch = Candidates(*(np.asarray([row[i] for row in rows])
                         for i in range(5)))
    for head in (None, 1000):
        result = evaluate_paper(space, batch, default_alpha(M), 10.0, head)
        for i, row in enumerate(rows):
            spec = space.to_spec(*row)
            counts = count(spec, head)
            scored = paper_score(spec)
            assert result.params[i] == counts.params
            assert result.flops[i] == counts.flops
            assert result.score[i] == pytest.approx(scored.score, rel=1e-12)
            assert result.rho[i] == pytest.approx(scored.rho, rel=1e-12)
