"""The linkage steps a terminal shows as a bar (cmi_assets.progress)."""

from __future__ import annotations

import duckdb

from cmi_assets import progress
from cmi_assets_tests.linkage.conftest import TEST_U_MAX_PAIRS, load_stg


def test_linkage_reports_training_scoring_and_the_spine_step_by_step(mini_world):
    from cmi_assets.linkage.person_records import build_person_records
    from cmi_assets.linkage.spine import link_persons
    from cmi_assets.linkage.train import train_model

    con = duckdb.connect()
    load_stg(con, mini_world)
    build_person_records(con)
    seen: list[tuple] = []
    reporter = lambda *event: seen.append(event)  # noqa: E731
    with progress.reporting_to(reporter):
        artefact = train_model(con, seed=3, u_max_pairs=TEST_U_MAX_PAIRS)
        link_persons(con, artefact, b"test-secret")
    labels = list(dict.fromkeys(label for label, *_ in seen))
    assert labels == ["training the linkage model", "scoring person pairs", "building the person spine"]
    for label in labels:
        events = [event[1:] for event in seen if event[0] == label]
        total = events[0][1]
        # every step announced in order, then the end: the bar's total is the steps it ran
        assert [done for done, _, _ in events] == list(range(total + 1)) and events[-1] == (total, total, "")
    em_passes = len(artefact["training"]["em_passes"])
    assert [e[3] for e in seen if e[0] == "training the linkage model"][2:-1] == [
        f"EM pass {n} of {em_passes}" for n in range(1, em_passes + 1)
    ]
