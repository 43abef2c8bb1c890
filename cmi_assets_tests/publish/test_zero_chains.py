"""Leaks of the joint protection found on the demo world, reproduced by hand: a hidden cell
pinned through a chain of cells that are all hidden already, and a total shown as 0 that
pins every part under it however many of its other parts are hidden."""

from __future__ import annotations

import numpy as np

from cmi_assets.publish.disclosure import CellTable, Margin, protect_tables
from cmi_assets_tests.publish.attacker import recovered_among

T = 11
SEXES = ("F", "M")

# 28 children of one cohort in three counties: (county, sex, age at a first maltreatment
# hospitalisation or None). One girl of county 1 was admitted before age 4; nobody else.
CHILDREN = (
    [(0, "F", None)]
    + [(1, "F", 3)]
    + [(1, "F", None)] * 6
    + [(1, "M", None)] * 7
    + [(2, "F", None)] * 5
    + [(2, "M", None)] * 8
)


def community_table():
    """State and county, all and by sex: children admitted by age 5, and children. Margins:
    sexes to all, counties to the state."""
    rows, keys = [], []
    for area in ("state", 0, 1, 2):
        for group in ("all", *SEXES):
            kids = [c for c in CHILDREN if area in ("state", c[0]) and group in ("all", c[1])]
            rows.append((sum(c[2] is not None for c in kids), len(kids)))
            # the state's rows and a county's all row republish incidence cells by age 5
            keys.append(("by5", group) if area == "state" else ("by5", f"c{area}") if group == "all" else None)
    at = {(a, g): 3 * i + j for i, a in enumerate(("state", 0, 1, 2)) for j, g in enumerate(("all", *SEXES))}
    margins = [Margin(at[(a, "all")], (at[(a, "F")], at[(a, "M")])) for a in ("state", 0, 1, 2)]
    margins += [Margin(at[("state", g)], tuple(at[(c, g)] for c in range(3))) for g in ("all", *SEXES)]
    return rows, margins, keys


def incidence_table():
    """All, by sex and by county: children admitted by age 4, in the year of age 5, by age 5.
    Margins: by age 5 = by age 4 + in the year of age 5; sexes and counties to all."""
    groups = [("all", lambda c: True), *((s, lambda c, s=s: c[1] == s) for s in SEXES)]
    groups += [(f"c{k}", lambda c, k=k: c[0] == k) for k in range(3)]
    rows, keys = [], []
    for name, member in groups:
        kids = [c for c in CHILDREN if member(c)]
        for measure, hit in (("by4", lambda a: a <= 4), ("in5", lambda a: a == 5), ("by5", lambda a: a <= 5)):
            rows.append((sum(c[2] is not None and hit(c[2]) for c in kids), len(kids)))
            keys.append((measure, name))
    at = {k: i for i, k in enumerate(keys)}
    margins = [Margin(at[("by5", g)], (at[("by4", g)], at[("in5", g)])) for g, _ in groups]
    for measure in ("by4", "in5", "by5"):
        margins.append(Margin(at[(measure, "all")], tuple(at[(measure, s)] for s in SEXES)))
        margins.append(Margin(at[(measure, "all")], tuple(at[(measure, f"c{k}")] for k in range(3))))
    return rows, margins, keys


def equations_of(tables):
    """Every margin of both tables, and each republished cell equal to its original: the
    reader's system, written from the tables' rows rather than from protect_tables' code."""
    out, offset, where = [], 0, {}
    for rows, margins, keys in tables:
        out += [([offset + m.total, *(offset + p for p in m.parts)], [-1.0, *[1.0] * len(m.parts)]) for m in margins]
        for i, key in enumerate(keys):
            if key is not None:
                if key in where:
                    out.append(([where[key], offset + i], [1.0, -1.0]))
                else:
                    where[key] = offset + i
        offset += len(rows)
    return out


def protect(tables):
    cells = [
        CellTable(np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float), margins, keys=keys)
        for rows, margins, keys in tables
    ]
    return np.concatenate(protect_tables(cells, threshold=T))


def test_the_hand_built_world_holds_its_margins():
    tables = [community_table(), incidence_table()]
    counts = np.array([r[0] for rows, _, _ in tables for r in rows], float)
    for cells, coefs in equations_of(tables):
        assert sum(a * counts[c] for c, a in zip(cells, coefs)) == 0
    # the one admitted child: state all and girls, county 1 all and girls; all, girls and
    # county 1 by age 4 and by age 5
    assert np.flatnonzero(counts[:12]).tolist() == [0, 1, 6, 7]
    assert np.flatnonzero(counts[12:]).tolist() == [0, 2, 3, 5, 12, 14]


def test_a_reader_of_both_tables_pins_no_hidden_cell():
    """A cell fixed only through cells hidden already (every margin it sits in is hidden
    whole) must still be freed: the protection walks on through the hidden cells to a shown
    one that can move."""
    tables = [community_table(), incidence_table()]
    reason = protect(tables)
    counts = np.array([r[0] for rows, _, _ in tables for r in rows], float)
    populations = np.array([r[1] for rows, _, _ in tables for r in rows], float)
    hidden = reason > 0
    assert hidden[[1, 7]].all()  # the admitted girl: the state's girls (1 of 13), county 1's girls (1 of 7)
    equations = equations_of(tables)
    assert recovered_among(counts, populations, hidden, equations, T) == []
    labels = [{1: "primary", 2: "complementary"}.get(int(r)) for r in reason]
    assert recovered_among(counts, populations, hidden, equations, T, labels) == []
    assert hidden.sum() < len(hidden)


def test_a_total_shown_as_zero_is_hidden_with_its_parts():
    """A county of 5 children (primary by its population) and one of 25, none with the event:
    the state's 0 would say both are 0, and hiding the other county's 0 beside it frees
    nothing, so the state's count is hidden."""
    table = CellTable(np.array([0.0, 0, 0]), np.array([30.0, 5, 25]), [Margin(0, (1, 2))])
    (reason,) = protect_tables([table], threshold=T)
    assert reason.tolist()[1] == 1 and reason[0] > 0
    equations = [([0, 1, 2], [-1.0, 1.0, 1.0])]
    assert recovered_among(np.zeros(3), [30, 5, 25], reason > 0, equations, T) == []
