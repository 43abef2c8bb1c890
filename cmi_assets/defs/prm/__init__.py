"""PRM group: the NZ MSD 2014 predictive-risk-model feasibility study rebuilt on our cohorts:
the stepwise model and a second model family, scores of an earlier cohort at both linkage
levels, the study's evaluation tables, the feasibility report, two drift checks and the
annual refresh schedule."""
