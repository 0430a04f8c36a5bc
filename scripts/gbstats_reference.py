"""GrowthBook's gbstats on the cases a test sends: the independent reference
the results engines are checked against (shared/tests/gbstats.rs).

Reads a JSON list of cases from stdin, each
  {"control": S, "treatment": S,
   "alpha": 0.05, "engine": "frequentist" | "sequential" | "bayesian",
   "tuning": 5000, "prior": {"mean": m, "stdDev": s} | null}
where S is a variant's sufficient statistics: [users, converted] (a
proportion), {"n", "sum", "sumSquares"} (a mean) or {"n", "numerator":
{"sum", "sumSquares"}, "denominator": {...}, "sumOfProducts"} (a ratio),
and writes, per case, gbstats' answer for the relative and the absolute
difference: {"relative": {...}, "absolute": {...}} with expected, ci,
p_value (frequentist engines) or chance_to_win and risk (Bayesian).
"""

import json
import math
import sys

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic, RatioStatistic, SampleMeanStatistic


def finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def statistic(sample):
    if isinstance(sample, list):
        return ProportionStatistic(n=sample[0], sum=sample[1])
    if "numerator" not in sample:
        return SampleMeanStatistic(n=sample["n"], sum=sample["sum"], sum_squares=sample["sumSquares"])
    n = sample["n"]

    def part(moments):
        return SampleMeanStatistic(n=n, sum=moments["sum"], sum_squares=moments["sumSquares"])

    return RatioStatistic(
        n=n,
        m_statistic=part(sample["numerator"]),
        d_statistic=part(sample["denominator"]),
        m_d_sum_of_products=sample["sumOfProducts"],
    )


def answer(case, difference_type):
    a = statistic(case["control"])
    b = statistic(case["treatment"])
    alpha = case["alpha"]
    engine = case["engine"]
    if engine == "frequentist":
        result = TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=difference_type)).compute_result()
    elif engine == "sequential":
        config = SequentialConfig(
            alpha=alpha, difference_type=difference_type, sequential_tuning_parameter=case["tuning"]
        )
        result = SequentialTwoSidedTTest(a, b, config).compute_result()
    else:
        prior = case.get("prior")
        gaussian = (
            GaussianPrior(mean=prior["mean"], variance=prior["stdDev"] ** 2, proper=True)
            if prior
            else GaussianPrior()
        )
        config = EffectBayesianConfig(
            alpha=alpha, difference_type=difference_type, prior_effect=gaussian, prior_type="relative"
        )
        result = EffectBayesianABTest(a, b, config).compute_result()
    out = {"expected": finite(result.expected), "ci": [finite(x) for x in result.ci]}
    if engine == "bayesian":
        out["chance_to_win"] = finite(result.chance_to_win)
        out["risk"] = [finite(x) for x in result.risk]
    else:
        out["p_value"] = finite(result.p_value)
    out["error"] = result.error_message
    return out


cases = json.load(sys.stdin)
json.dump([{"relative": answer(c, "relative"), "absolute": answer(c, "absolute")} for c in cases], sys.stdout)
