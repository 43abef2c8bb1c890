"""The PRM recipe's settings: which model to train and how (light: no model libraries, so the
Dagster config in defs/prm can take its defaults from here at load time)."""

from __future__ import annotations

from dataclasses import dataclass

from cmi_assets.linkage.tables import LEVELS  # noqa: F401  (re-exported for the PRM modules)

# Pool earlier complete cohorts until this many children with findings: the study's
# training cohort had about 1,400 (Table 1: 62,273 children, 2.3%); with a few hundred the
# validation AUC is too noisy to trust (BENCHMARKS.md, "PRM on the default world").
DEFAULT_MIN_TRAINING_POSITIVES = 1000
DEFAULT_MAX_POOLED_COHORTS = 6
SCORING_AGE = 5  # outcomes to age 5 for the scored cohort (NZ study, Table 2 and Figure 1)


@dataclass(frozen=True)
class PrmSettings:
    """Training choices; defaults are the NZ study's (paras 58-62, Figure 3 note 1)."""

    target: str = "A"  # Table 10 target (A = substantiated finding)
    outcome_age: int = 2  # outcomes to this age define the training cohort and the label
    linkage_level: str = "conservative"
    seed: int = 2014
    min_training_positives: int = DEFAULT_MIN_TRAINING_POSITIVES
    max_pooled_cohorts: int = DEFAULT_MAX_POOLED_COHORTS
    negatives_per_positive: float = 4.0
    train_share: float = 0.7
    alternative_family: str = "elastic_net"  # or gradient_boosting (prm.alternative)
    bootstrap_resamples: int = 20  # refits of the stepwise selection on resamples (Austin and Tu 2004); 0 = none
