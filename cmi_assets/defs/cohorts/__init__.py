"""Cohorts group: the study population, the Box 1 feature table and the outcomes by age of
each birth cohort (one partition per birth year), at both linkage levels, in the analysis
zone's `cohorts` schema."""
