"""CFSR group: the Round 4 recurrence-of-maltreatment indicator from the staged NCANDS
Child Files to the state data profiles (FY partitions, DQ checks, RSP, drill-downs,
trend, report) and the annual schedule."""
