import duckdb

from cmi_assets.linkage.blocking import choose_blocking_rules, count_pairs_by_rule


def _table():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA linkage")
    # 40 records: dob in 4 groups of 10, surname in 20 groups of 2, all the same sex
    con.execute("""CREATE TABLE linkage.t AS SELECT i::BIGINT AS unique_id, (i % 4) AS dob, (i % 20) AS surname, 'F' AS sex
                   FROM range(40) r(i)""")
    return con


def test_pair_counts_match_brute_force():
    con = _table()
    rules = {"dob": "l.dob = r.dob", "surname": "l.surname = r.surname", "sex": "l.sex = r.sex"}
    counts = count_pairs_by_rule(con, "linkage.t", rules)
    assert counts["dob"]["pairs"] == 4 * 45
    assert counts["surname"]["pairs"] == 20  # i and i + 20
    assert counts["sex"]["pairs"] == 40 * 39 // 2
    # surname pairs share dob too (i and i+20 have the same i % 4): nothing new after dob
    assert counts["surname"]["marginal_pairs"] == 0
    assert counts["sex"]["marginal_pairs"] == 780 - 180


def test_rules_over_budget_are_dropped():
    con = _table()
    rules = {"dob": "l.dob = r.dob", "sex": "l.sex = r.sex"}
    kept, counts = choose_blocking_rules(con, "linkage.t", rules, max_pairs_per_rule=500)
    assert list(kept) == ["dob"] and counts["sex"]["pairs"] == 780
