"""NCANDS Child File codes that both the CFSR indicator and the synthetic generator read
(NCANDS Child File codebook; CFSR R4 rules, section 2.1 step 3 for the victim rule)."""

from __future__ import annotations

import polars as pl

CHAGE_UNBORN = 77  # ChAge (element #12): 0-21 years, 77 unborn, 99 unknown
CHAGE_UNKNOWN = 99

# MalNLev 1 substantiated, 2 indicated; MalDeath 1 yes.
VICTIM_DISPOSITION_LEVELS = ["1", "2"]
DISPOSITION_LEVEL_COLUMNS = ["MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV"]
MALTREATMENT_DEATH_YES = "1"


def is_victim_record() -> pl.Expr:
    """Step 3: any MalNLev substantiated (1) or indicated (2), or MalDeath = 1. AR
    victims/non-victims (3, 4), unsubstantiated (5, 6), closed (7), no alleged
    maltreatment (8) and other/unknown (88, 99) are not victims."""
    substantiated_or_indicated = pl.any_horizontal(
        pl.col(column).is_in(VICTIM_DISPOSITION_LEVELS).fill_null(False) for column in DISPOSITION_LEVEL_COLUMNS
    )
    died_of_maltreatment = (pl.col("MALDEATH") == MALTREATMENT_DEATH_YES).fill_null(False)
    return substantiated_or_indicated | died_of_maltreatment
