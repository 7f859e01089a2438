"""Eq. 5 as a sequence of convex programs in cvxpy (log space), and the loop
that solves it.

The program of the paper is, for widths ``w`` and depths ``L``:

    max  sum_s alpha_s H_s - beta Q                                  (Eq. 5)
    s.t. L (prod w)^(-1/L) <= rho,  FLOPs <= budget,  params <= budget,
         c_1 <= c_2 <= ... <= c_M                             (Guideline 3)

It is neither convex nor continuous. Two subproblems are solved instead,
alternately, both built once with cvxpy ``Parameter`` s (DPP) and re-solved;
every cvxpy problem solved is convex, the width subproblem itself is not:

1. **Widths** (:class:`WidthProblem`), depths fixed. In the log-variables ``z``
   (log channels, log bottlenecks, log kernels) FLOPs and params are
   log-sum-exp functions (posynomials: geometric programming), rho and
   Guideline 3 are linear, and each entropy term ``(a + c.z)(g + G.z)`` is
   bilinear. The bilinear part is handled by the convex-concave procedure:
   ``uv = ((u+v)^2 - (u-v)^2)/4`` with the convex ``(u+v)^2`` linearised at the
   current point gives a concave minorant that touches the objective there;
   maximising it can only increase the true objective, and its fixed points are
   KKT points of the width problem (a local method: no global optimality is
   claimed). ``u`` and ``v`` are rescaled to equal size first, so the
   minorant is tight.
2. **Depths** (:class:`DepthProblem`), widths fixed. The entropy, FLOPs and
   params are linear in ``L``; rho reads ``D log(D/rho) <= sum L_i log w_i``
   (``D log D`` is convex); the penalty ``beta exp(Var L)`` (or TinyNAS's
   ``exp(std)``) is convex. A concave maximisation over a convex set.

Alternating the two is block-coordinate ascent on the continuous relaxation;
each step cannot decrease the objective, so its values converge (to a local,
not a certified, optimum). Integer depths, grid
widths and the kernel set are then restored by :mod:`mmdeepmad.design.solver`.
"""
from __future__ import annotations
import math
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import cvxpy as cp
import numpy as np
from scipy.special import logsumexp

from mmdeepmad.conventions import rules
from .relaxation import LATENCY_UNIT, StructureModel

SOLVER = 'CLARABEL'

#: Statuses whose solution is used (an inaccurate one is counted as such).
SOLVED = ('optimal', 'optimal_inaccurate')

#: The value an unconstrained budget takes in a program (no network comes
#: near it).
UNBOUNDED = 1e30

#: Solver settings tried, in turn, when a solve ends neither 'optimal' nor
#: 'infeasible' (an error, an iteration limit, an inaccurate answer).
RETRY_SETTINGS = (dict(static_regularization_constant=1e-7),
                  dict(tol_ktratio=1e-5), dict(equilibrate_enable=False))


def _run(problem: cp.Problem, settings) -> str:
    """One solve, silent; ``'solver error'`` when the solver fails."""
    try:
        with warnings.catch_warnings(), np.errstate(
                over='ignore', invalid='ignore'):
            warnings.simplefilter('ignore', UserWarning)
            warnings.simplefilter('ignore', RuntimeWarning)
            problem.solve(solver=SOLVER, **settings)
        return problem.status
    except cp.SolverError:
        return 'solver error'


def _solve(problem: cp.Problem, counts: Optional[Counter] = None) -> str:
    """Solve without printing and return the status. A solve that ends
    neither 'optimal' nor 'infeasible' is tried again with each of
    :data:`RETRY_SETTINGS` until one does (counted as ``'optimal after
    retry'``); otherwise the first answer stands (an inaccurate solution is
    then used). Every outcome is counted in ``counts``, so that inaccurate
    and failed solves are reported with the design
    (:func:`describe_solves`)."""
    status = _run(problem, {})
    if status not in ('optimal', 'infeasible'):
        for settings in RETRY_SETTINGS:
            retried = _run(problem, settings)
            if retried in ('optimal', 'infeasible'):
                if counts is not None:
                    counts[retried + ' after retry'] += 1
                return retried
        if status in SOLVED:  # the first, inaccurate answer is used
            _run(problem, {})
    if counts is not None:
        counts[status] += 1
    return status


def describe_solves(counts: Counter) -> str:
    """``'812 optimal, 3 optimal_inaccurate, 1 solver error'``: how the
    convex solves of a design ended, most frequent first (ties by name)."""
    if not counts:
        return 'no convex solves'
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ', '.join(f'{number} {status}' for status, number in ordered)


@dataclass
class RelaxedPoint:
    z: np.ndarray
    depths: np.ndarray
    objective: float  # entropy - penalty of the relaxed point
    status: str


class WidthProblem:
    """The CCP subproblem over log-widths for fixed depths (DCP, DPP)."""

    def __init__(self, model: StructureModel):
        #: how every solve of this problem ended (see :func:`_solve`)
        self.counts: Counter = Counter()
        self.model = model
        #: what the objective was divided by in the last solve (solve_step)
        self.objective_scale = 1.0
        space, M, n = model.space, model.M, model.n
        rows, self._flop_coefs, self._param_coefs = model.monomials()
        self.A = rows
        T = rows.shape[0]
        S = len(model.scoring)
        R = len(model.rho_groups())
        self.z = cp.Variable(n, name='log_widths')
        self.log_flop_coef = cp.Parameter(T, name='log_flops_coefficients')
        self.log_param_coef = cp.Parameter(T, name='log_params_coefficients')
        self.log_flops_budget = cp.Parameter(name='log_flops_budget')
        self.log_params_budget = cp.Parameter(name='log_params_budget')
        self.rho_rows = cp.Parameter((R, n), name='rho_rows')
        self.rho_rhs = cp.Parameter(R, name='rho_rhs')
        self.linear = cp.Parameter(n, name='ccp_linear')
        self.quad_rows = cp.Parameter((S, n), name='ccp_quadratic_rows')
        self.quad_consts = cp.Parameter(S, name='ccp_quadratic_constants')
        # kernel bounds: the allowed range, or one kernel when it is fixed
        self.log_kernel_low = cp.Parameter(M, name='log_kernel_low')
        self.log_kernel_high = cp.Parameter(M, name='log_kernel_high')
        self.fix_kernels(None)
        z = self.z
        x = z[1:1 + M]
        y = z[1 + M:1 + 2 * M]
        t = z[1 + 2 * M:]
        step = space.width_multiple
        lo_c, hi_c = space.channels
        self.flops_budget = (
            cp.log_sum_exp(rows @ z + self.log_flop_coef)
            <= self.log_flops_budget)
        self.params_budget = (
            cp.log_sum_exp(rows @ z + self.log_param_coef)
            <= self.log_params_budget)
        self.rho_bound = self.rho_rows @ z >= self.rho_rhs
        budget_constraints = [self.flops_budget, self.params_budget]
        constraints = [
            # budgets: posynomials in log space (geometric programming)
            *budget_constraints,
            # effectiveness, Eq. 2-3: sum log w >= D log(D / rho)
            self.rho_bound,
            z[0] >= math.log(max(space.stem_channels[0], step)),
            z[0] <= math.log(space.stem_channels[1]),
            x >= math.log(max(lo_c, step)),
            x <= math.log(hi_c),
            y >= math.log(max(lo_c, step)),
            y - x >= math.log(space.mid_ratio[0]),
            y - x <= math.log(space.mid_ratio[1]),
            t >= self.log_kernel_low,
            t <= self.log_kernel_high,
        ]
        if space.non_decreasing and M > 1:
            constraints.append(x[1:] >= x[:-1])  # Guideline 3
        objective = cp.Maximize(self.linear @ z -
                                cp.sum_squares(self.quad_rows @ z +
                                               self.quad_consts))
        #: the subproblem: every budget, the latency's too (when modelled)
        self.problem = cp.Problem(objective, constraints)
        #: the same without the latency budget: solved first (fewer cones)
        self._without_latency = None
        self.latency_budget = None
        self._latency_dual = 0.0
        self._latency_binds = False  # has the budget bound? (solve_step)
        if model.latency is not None:
            # the device's latency: one more posynomial (mmdeepmad.latency)
            self.latency_rows, self._latency_coefs = model.latency_monomials()
            self.log_latency_coef = cp.Parameter(
                len(self._latency_coefs), name='log_latency_coefficients')
            self.log_latency_budget = cp.Parameter(name='log_latency_budget')
            self.latency_budget = (
                cp.log_sum_exp(self.latency_rows @ z + self.log_latency_coef)
                <= self.log_latency_budget)
            self._without_latency = self.problem
            self.problem = cp.Problem(objective,
                                      constraints + [self.latency_budget])

    def fix_kernels(self, kernels) -> None:
        """Fix every stage's kernel (``None``: free in the allowed range)."""
        space, M = self.model.space, self.model.M
        if kernels is None:
            self.log_kernel_low.value = np.full(M,
                                                math.log(min(space.kernels)))
            self.log_kernel_high.value = np.full(M,
                                                 math.log(max(space.kernels)))
        else:
            logs = np.log(np.asarray(kernels, float))
            self.log_kernel_low.value = logs
            self.log_kernel_high.value = logs

    def set_depths(self, depths, budgets) -> None:
        model = self.model
        self.log_flop_coef.value = np.log(
            model.coefficients(self._flop_coefs, depths))
        self.log_param_coef.value = np.log(
            model.coefficients(self._param_coefs, depths))
        self.log_flops_budget.value = math.log(budgets.flops or UNBOUNDED)
        self.log_params_budget.value = math.log(budgets.params or UNBOUNDED)
        if self.latency_budget is not None:
            self.log_latency_coef.value = np.log(
                model.coefficients(self._latency_coefs, depths))
            self.log_latency_budget.value = math.log(
                budgets.latency *
                LATENCY_UNIT if budgets.latency else UNBOUNDED)
        G, g = model.cumulative_log_width(depths)
        D = model.cumulative_layers(depths)
        rows, rhs = [], []
        for end, with_head in model.rho_groups():
            row, const, layers = G[end + 1].copy(), g[end + 1], D[end + 1]
            if with_head:
                row = row + model.head_log_width()
                layers = layers + 1
            rows.append(row)
            rhs.append(layers * math.log(layers / budgets.rho) - const)
        self.rho_rows.value = np.asarray(rows)
        self.rho_rhs.value = np.asarray(rhs)
        self._G, self._g = G, g
        self._depths = np.asarray(depths, float)
        self._budgets = budgets

    def depth_gradient(self, z: np.ndarray) -> np.ndarray:
        """d(max entropy)/dL at the solved point (envelope theorem: the
        partial derivative of the Lagrangian in L, with the last duals,
        those of the objective as divided: see :meth:`solve_step`)."""
        model, M = self.model, self.model.M
        rest = np.array([model.unit_log_width(i, False) @ z for i in range(M)])
        U, Uc, _, _, weights = self.entropy_factors(z)
        u = U @ z + Uc
        grad = np.zeros(M)
        for stage, u_s, w_s in zip(model.scoring, u, weights):
            mask = np.arange(M) <= stage.end_stage
            grad += np.where(mask, w_s * u_s * model.factor * rest, 0.0)
        budgets = [(self.flops_budget, self._flop_coefs, self.A),
                   (self.params_budget, self._param_coefs, self.A)]
        if self.latency_budget is not None:
            budgets.append(
                (self.latency_budget, self._latency_coefs, self.latency_rows))
        for constraint, coefs, rows in budgets:
            dual = self.objective_scale * (
                self._latency_dual if constraint is self.latency_budget else
                float(constraint.dual_value or 0.0))
            if dual <= 0:
                continue
            values = np.exp(rows @ z)
            total = float(
                np.sum(model.coefficients(coefs, self._depths) * values))
            per_depth = np.zeros(M)
            for value, (const, stage) in zip(values, coefs):
                if stage is not None:
                    per_depth[stage] += const * value
            grad -= dual * per_depth / total
        duals = np.atleast_1d(self.rho_bound.dual_value if self.rho_bound.
                              dual_value is not None else 0.0)
        D = model.cumulative_layers(self._depths)
        for dual, (end, with_head) in zip(duals, model.rho_groups()):
            if dual <= 0:
                continue
            dual = dual * self.objective_scale
            layers = D[end + 1] + (1 if with_head else 0)
            mask = np.arange(M) <= end
            d_rhs = (math.log(layers / self._budgets.rho) +
                     1.0) * model.layers_per_unit
            grad -= np.where(mask, dual * (d_rhs - rest), 0.0)
        return grad

    def entropy_factors(self, z: np.ndarray):
        """u_s = weight-free channel factor, v_s = cumulative factor, per
        scoring stage, as (rows, consts) of affine functions of z."""
        model = self.model
        U_rows, U_c, V_rows, V_c, weights = [], [], [], [], []
        for stage in model.scoring:
            u = np.zeros(model.n)
            uc = stage.offset
            if stage.channel_stage is None:
                uc += math.log(model.space.head_channels)
            elif stage.channel_stage < 0:
                u[0] = 1.0
            else:
                u[model.ix(stage.channel_stage)] = 1.0
            v = self._G[stage.end_stage + 1].copy()
            vc = self._g[stage.end_stage + 1]
            if stage.with_head:
                v = v + model.head_log_width()
            U_rows.append(u)
            U_c.append(uc)
            V_rows.append(model.factor * v)
            V_c.append(model.factor * vc)
            weights.append(stage.weight)
        return (np.asarray(U_rows), np.asarray(U_c), np.asarray(V_rows),
                np.asarray(V_c), np.asarray(weights))

    def entropy(self, z: np.ndarray) -> float:
        U, Uc, V, Vc, w = self.entropy_factors(z)
        return float(np.sum(w * (U @ z + Uc) * (V @ z + Vc)))

    def linearise(self, z0: np.ndarray) -> None:
        """Set the CCP minorant at z0 (with u and v rescaled to equal size)."""
        U, Uc, V, Vc, w = self.entropy_factors(z0)
        u0 = U @ z0 + Uc
        v0 = V @ z0 + Vc
        kappa = np.sqrt(np.maximum(v0, 1e-6) / np.maximum(u0, 1e-6))
        Us, Ucs = U * kappa[:, None], Uc * kappa
        Vs, Vcs = V / kappa[:, None], Vc / kappa
        s0 = (Us @ z0 + Ucs) + (Vs @ z0 + Vcs)
        # w/4 * [2 s0 (u + v) - s0^2 - (u - v)^2]
        linear = np.sum((w * s0 / 2)[:, None] * (Us + Vs), axis=0)
        scale = np.sqrt(w / 4)
        self._minorant = (linear, scale[:, None] * (Us - Vs),
                          scale * (Ucs - Vcs))
        #: the entropy at the linearisation point (see solve_step)
        self._linearised_entropy = abs(self.entropy(z0))
        self._set_objective_scale(1.0)

    def _set_objective_scale(self, divisor: float) -> None:
        """Divide the linearised objective by ``divisor`` (the duals then
        are the scaled objective's: see :meth:`depth_gradient`)."""
        linear, quad_rows, quad_consts = self._minorant
        self.objective_scale = divisor
        root = math.sqrt(divisor)
        self.linear.value = linear / divisor
        self.quad_rows.value = quad_rows / root
        self.quad_consts.value = quad_consts / root

    def meets_latency(self, z: np.ndarray) -> bool:
        """Whether log-widths ``z`` meet the latency budget as set."""
        value = logsumexp(self.latency_rows @ z + self.log_latency_coef.value)
        return float(value) <= float(self.log_latency_budget.value)

    def solve_step(self) -> str:
        """Solve the subproblem as linearised; return the status.

        With a latency budget the subproblem without it is solved first:
        its feasible set contains the subproblem's, so when its optimum
        meets the latency budget it is the subproblem's optimum (the
        budget's dual is then 0), and when it is infeasible so is the
        subproblem. Only otherwise is the latency posynomial (its cones)
        part of the solve, and from then on directly (a budget that bound
        once mostly binds again: the first solve would be wasted). Either
        way the answer is the subproblem's."""
        if self.latency_budget is None:
            return _solve(self.problem, self.counts)
        if not self._latency_binds:
            status = _solve(self._without_latency, self.counts)
            if status == 'infeasible' or (status == 'optimal' and
                                          self.meets_latency(self.z.value)):
                self._latency_dual = 0.0
                return status
            self._latency_binds = True
        # with the latency cones the interior-point method often stalls on
        # objectives of the entropy's size (1e4-1e6); divided by the entropy
        # at the linearisation point it mostly converges (measured: solver
        # errors and inaccurate answers 52 -> 3 on a binding R50 budget)
        self._set_objective_scale(max(1.0, self._linearised_entropy))
        status = _solve(self.problem, self.counts)
        self._latency_dual = float(self.latency_budget.dual_value or 0.0) \
            if status in SOLVED else 0.0
        return status

    def solve(self, z0: np.ndarray, iterations: int = 8, tol: float = 1e-6):
        """CCP from z0; returns (z, entropy, status)."""
        z, best = z0, None
        status = 'not solved'
        for _ in range(iterations):
            self.linearise(z)
            status = self.solve_step()
            if status not in SOLVED:
                break
            z_new = np.asarray(self.z.value)
            value = self.entropy(z_new)
            improved = best is None or value > best + tol * abs(best)
            z, best = z_new, value if best is None else max(best, value)
            if not improved:
                break
        return z, best, status


class DepthProblem:
    """Depths for fixed widths: a concave maximisation (DCP, DPP)."""

    def __init__(self,
                 model: StructureModel,
                 beta: float,
                 counts: Optional[Counter] = None):
        #: how every solve ended (shared with a width problem's, if given)
        self.counts: Counter = Counter() if counts is None else counts
        self.model = model
        space, M = model.space, model.M
        rows, self._flop_coefs, self._param_coefs = model.monomials()
        self.rows = rows
        R = len(model.rho_groups())
        self.L = cp.Variable(M, name='depths')
        self.score_per_depth = cp.Parameter(M, name='score_per_depth')
        self.flops_per_depth = cp.Parameter(M, nonneg=True)
        self.params_per_depth = cp.Parameter(M, nonneg=True)
        self.flops_room = cp.Parameter(name='flops_room')
        self.params_room = cp.Parameter(name='params_room')
        self.latency_per_depth = cp.Parameter(M, nonneg=True)
        self.latency_room = cp.Parameter(name='latency_room')
        self._latency_rows, self._latency_coefs = (
            model.latency_monomials() if model.latency is not None else
            (None, None))
        self.logw_per_depth = cp.Parameter((R, M), name='log_width_per_depth')
        self.logw_const = cp.Parameter(R)
        # layers up to each rho group: fixed by the structure (constants)
        layer_rows, layer_const = [], []
        for end, with_head in model.rho_groups():
            mask = (np.arange(M) <= end).astype(float)
            layer_rows.append(mask * model.layers_per_unit)
            layer_const.append(1.0 + (1.0 if with_head else 0.0))
        self.layer_rows = np.asarray(layer_rows)
        self.layer_const = np.asarray(layer_const)
        self.log_rho = cp.Parameter(name='log_rho')
        L = self.L
        D = self.layer_rows @ L + self.layer_const
        constraints = [
            self.flops_per_depth @ L <= self.flops_room,
            self.params_per_depth @ L <= self.params_room,
            self.latency_per_depth @ L <= self.latency_room,
            # Eq. 2-3: D log D - D log rho <= sum log w
            -cp.entr(D) - self.log_rho * D
            <= self.logw_per_depth @ L + self.logw_const,
            L >= space.depth[0],
            L <= space.max_depths.astype(float),
        ]
        self.beta = beta
        objective = self.score_per_depth @ L
        if beta != 0:
            objective = objective - beta * cp.exp(self._penalty_argument(L))
        self.problem = cp.Problem(cp.Maximize(objective), constraints)

    def _penalty_argument(self, L):
        """Var(L) (paper) or TinyNAS's std of the penalised depths
        (:func:`mmdeepmad.conventions.rules.penalised_stages`)."""
        model = self.model
        chosen = list(
            rules.penalised_stages(model.space.block, model.M,
                                   model.convention))
        first = chosen[0]  # the penalised stages are the last ones
        sub = L[first:] if first else L
        count = len(chosen)
        if model.convention == 'paper':
            return cp.sum_squares(sub - cp.sum(sub) / count) / count
        return cp.norm(sub - cp.sum(sub) / count, 2) / math.sqrt(count)

    def solve(self, width_problem: WidthProblem, z: np.ndarray, depths,
              budgets):
        """Best continuous depths for widths z (linearised around ``depths``:
        the costs of a unit do not depend on depth, so this is exact)."""
        model = self.model
        M = model.M
        unit = np.zeros(M)
        base = np.asarray(depths, float)
        # per-depth costs: coefficient of (L_i - 1) monomials at z
        values = np.exp(self.rows @ z)
        flop_rest = np.zeros(M)
        param_rest = np.zeros(M)
        flop_fixed = param_fixed = 0.0
        for value, (fc, fs), (pc, ps) in zip(values, self._flop_coefs,
                                             self._param_coefs):
            if fs is None:
                flop_fixed += fc * value
                param_fixed += pc * value
            else:
                flop_rest[fs] += fc * value
                param_rest[ps] += pc * value
        self.flops_per_depth.value = flop_rest
        self.params_per_depth.value = param_rest
        self.flops_room.value = (budgets.flops or UNBOUNDED) - flop_fixed + \
            flop_rest.sum()
        self.params_room.value = (budgets.params or UNBOUNDED) - \
            param_fixed + param_rest.sum()
        latency_rest = np.zeros(M)
        latency_room = UNBOUNDED
        if self._latency_rows is not None:
            latency_fixed = 0.0
            values = np.exp(self._latency_rows @ z)
            for value, (coef, stage) in zip(values, self._latency_coefs):
                if stage is None:
                    latency_fixed += coef * value
                else:
                    latency_rest[stage] += coef * value
            budget = budgets.latency * LATENCY_UNIT if budgets.latency \
                else UNBOUNDED
            latency_room = budget - latency_fixed + latency_rest.sum()
        self.latency_per_depth.value = latency_rest
        self.latency_room.value = latency_room
        # log widths: first unit + (L-1) rest units, per stage
        first = np.array([model.unit_log_width(i, True) @ z for i in range(M)])
        rest = np.array([model.unit_log_width(i, False) @ z for i in range(M)])
        stem_lw = math.log(3 * model.space.stem_kernel**2)
        head_lw = model.head_log_width() @ z
        logw_rows, logw_const = [], []
        for end, with_head in model.rho_groups():
            mask = (np.arange(M) <= end).astype(float)
            logw_rows.append(mask * rest)
            logw_const.append(stem_lw + np.sum(mask * (first - rest)) +
                              (head_lw if with_head else 0.0))
        self.logw_per_depth.value = np.asarray(logw_rows)
        self.logw_const.value = np.asarray(logw_const)
        self.log_rho.value = math.log(budgets.rho)
        # entropy: sum_s w_s u_s factor (stem + sum_{i<=end} first +
        # (L-1) rest)
        U, Uc, _, _, weights = width_problem.entropy_factors(z)
        u = U @ z + Uc
        score = np.zeros(M)
        for stage, u_s, w_s in zip(model.scoring, u, weights):
            mask = (np.arange(M) <= stage.end_stage).astype(float)
            score += w_s * u_s * model.factor * mask * rest
        self.score_per_depth.value = score
        self.L.value = base
        status = _solve(self.problem, self.counts)
        if status not in SOLVED:
            return base, status
        del unit
        return np.asarray(self.L.value), status


def depth_penalty(model: StructureModel, depths, beta: float) -> float:
    """Guideline 2's penalty of a depth vector in the model's convention."""
    return rules.depth_penalty(depths, beta, model.convention,
                               model.space.block)


def relax(model: StructureModel,
          budgets,
          beta: float,
          depths0=None,
          z0: Optional[np.ndarray] = None,
          rounds: int = 12,
          tol: float = 1e-5,
          width_problem: Optional[WidthProblem] = None,
          depth_problem: Optional[DepthProblem] = None) -> RelaxedPoint:
    """Block-coordinate ascent on the continuous relaxation of Eq. 5."""
    space = model.space
    widths = width_problem or WidthProblem(model)
    depths_p = depth_problem or DepthProblem(model, beta, widths.counts)
    M = model.M
    if depths0 is None:
        depths0 = np.minimum(np.full(M, 2.0), space.max_depths)
    depths = np.asarray(depths0, float)
    if z0 is None:
        z0 = initial_point(model)
    z = z0
    best: Optional[RelaxedPoint] = None
    status = 'not solved'
    for _ in range(rounds):
        widths.set_depths(depths, budgets)
        z_new, entropy, status = widths.solve(z)
        if entropy is None:
            break
        z = z_new
        value = entropy - depth_penalty(model, depths, beta)
        if best is not None and value <= best.objective + tol * abs(
                best.objective):
            if value > best.objective:
                best = RelaxedPoint(z, depths.copy(), value, status)
            break
        best = RelaxedPoint(z, depths.copy(), value, status)
        new_depths, d_status = depths_p.solve(widths, z, depths, budgets)
        if d_status not in SOLVED:
            break
        depths = np.clip(new_depths, space.depth[0], space.max_depths)
    if best is None:
        return RelaxedPoint(z, depths, -math.inf, status)
    return best


def initial_point(model: StructureModel) -> np.ndarray:
    """The thinnest network of the space (a starting point for CCP)."""
    space = model.space
    z = np.zeros(model.n)
    step = space.width_multiple
    z[0] = math.log(max(space.stem_channels[0], step))
    low = math.log(max(space.channels[0], step))
    for i in range(model.M):
        z[model.ix(i)] = low
        z[model.iy(i)] = max(low, low + math.log(space.mid_ratio[0]))
        z[model.it(i)] = math.log(min(space.kernels))
    return z
