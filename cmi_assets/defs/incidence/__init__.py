"""Incidence group: per birth cohort and both linkage levels, child maltreatment incidence
from linked records (each child counted once across agencies), the overlap of agencies and
the multiple-systems estimate of the children no agency recorded, in the analysis zone's
`incidence` schema."""
