"""GrowthBook's gbstats on the cases a test sends: the independent reference
the results engines are checked against (shared/tests/gbstats.rs).

Reads a JSON list of cases from stdin, each
  {"control": [users, converted], "treatment": [users, converted],
   "alpha": 0.05, "engine": "frequentist" | "sequential" | "bayesian",
   "tuning": 5000, "prior": {"mean": m, "stdDev": s} | null}
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
from gbstats.models.statistics import ProportionStatistic


def finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def answer(case, difference_type):
    a = ProportionStatistic(n=case["control"][0], sum=case["control"][1])
    b = ProportionStatistic(n=case["treatment"][0], sum=case["treatment"][1])
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
