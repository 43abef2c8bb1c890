import copy

from cmi_assets.linkage.blocking import rule_pair_count
from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.predict import MIN_MATCH_PROBABILITY, predict_pairs


def test_pairs_are_scored_above_the_floor(linked_mini):
    con = linked_mini["con"]
    low = con.execute("SELECT min(match_probability), count(*) FROM linkage.person_pairs").fetchone()
    assert low[0] >= MIN_MATCH_PROBABILITY and low[1] == linked_mini["summary"]["pairs"]
    ordered = con.execute("SELECT count(*) FROM linkage.person_pairs WHERE unique_id_l >= unique_id_r").fetchone()[0]
    assert ordered == 0  # each pair once


def test_stored_tf_tables_drive_the_scores(linked_mini):
    """Scores use the artefact's TF tables, not ones recomputed from the data: making a
    surname look very common lowers the score of pairs agreeing on it."""
    con, artefact = linked_mini["con"], linked_mini["artefact"]
    name, _ = max(artefact["tf_tables"]["family_name"], key=lambda row: row[1])
    common = copy.deepcopy(artefact)
    common["tf_tables"]["family_name"] = [
        [v, 0.5 if v == name else tf] for v, tf in artefact["tf_tables"]["family_name"]
    ]
    predict_pairs(con, common, out_table="linkage.pairs_tf_test")
    diff = con.execute(f"""
        SELECT avg(t.match_weight - p.match_weight) FROM linkage.pairs_tf_test t JOIN linkage.person_pairs p USING (unique_id_l, unique_id_r)
        JOIN linkage.person_identities l ON l.unique_id = t.unique_id_l JOIN linkage.person_identities r ON r.unique_id = t.unique_id_r
        WHERE l.family_name = r.family_name AND l.family_name = '{name}'""").fetchone()[0]
    assert diff is not None and diff < -1  # well below the original weights
    con.execute("DROP TABLE linkage.pairs_tf_test")


def test_scoring_in_chunks_gives_the_same_pairs_and_weights(linked_mini):
    """A state's volume is scored a chunk of the left side at a time (the temporary storage
    holds one chunk); the pairs and their weights are those of one pass."""
    con, artefact = linked_mini["con"], linked_mini["artefact"]
    whole = predict_pairs(con, artefact, out_table="linkage.pairs_one_pass")
    blocked = sum(rule_pair_count(con, IDENTITIES_TABLE, rule) or 0 for rule in artefact["blocking_rules"].values())
    chunked = predict_pairs(con, artefact, out_table="linkage.pairs_chunked", pairs_per_chunk=blocked // 4)
    assert whole["prediction_chunks"] == 1 and chunked["prediction_chunks"] in (4, 5)
    assert chunked["pairs"] == whole["pairs"] > 0
    differ = con.execute("""
        SELECT count(*) FILTER (WHERE c.unique_id_l IS NULL OR o.unique_id_l IS NULL),
               max(abs(c.match_weight - o.match_weight)), max(abs(c.match_probability - o.match_probability))
        FROM linkage.pairs_chunked c FULL JOIN linkage.pairs_one_pass o USING (unique_id_l, unique_id_r)""").fetchone()
    assert differ[0] == 0 and differ[1] < 1e-9 and differ[2] < 1e-12
    con.execute("DROP TABLE linkage.pairs_one_pass")
    con.execute("DROP TABLE linkage.pairs_chunked")
