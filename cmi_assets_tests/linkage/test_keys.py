import hashlib
import hmac

import polars as pl
import pytest

from cmi_assets.linkage.keys import MissingPseudonymKey, assign_person_keys, person_key, pseudonym_secret

SECRET = b"s3cret"


def _clusters(mapping):
    return pl.DataFrame(
        {"record_ref": list(mapping), "cluster_id": list(mapping.values())},
        schema={"record_ref": pl.String, "cluster_id": pl.Int64},
    )


def test_key_is_an_hmac_of_the_founding_record():
    expected = hmac.new(SECRET, b"less_conservative|a|0", hashlib.sha256).hexdigest()[:32]
    assert person_key(SECRET, "less_conservative", "a") == expected
    spine, events = assign_person_keys(_clusters({"b": 1, "a": 1, "c": 2}), None, SECRET, "less_conservative")
    keys = dict(zip(spine["record_ref"], spine["person_key"]))
    assert keys["a"] == keys["b"] == expected  # founder = smallest record_ref
    assert keys["c"] == person_key(SECRET, "less_conservative", "c")
    assert sorted(events["event"].to_list()) == ["new", "new"]
    assert person_key(b"other", "less_conservative", "a") != expected


def test_keys_carry_over_by_greatest_overlap_and_record_split_and_merge():
    previous = pl.DataFrame(
        {"record_ref": ["a", "b", "c", "d", "e", "f"], "person_key": ["K1", "K1", "K1", "K2", "K3", "K3"]}
    )
    # K1 {a,b,c} splits into {a,b} and {c}; K2 {d} and K3 {e,f} merge into one cluster with new record g
    clusters = _clusters({"a": 10, "b": 10, "c": 11, "d": 12, "e": 12, "f": 12, "g": 12})
    spine, events = assign_person_keys(clusters, previous, SECRET, "lvl")
    keys = dict(zip(spine["record_ref"], spine["person_key"]))
    assert keys["a"] == keys["b"] == "K1"  # the larger part keeps the key
    assert keys["e"] == keys["f"] == keys["d"] == keys["g"] == "K3"  # greatest overlap (2 records) wins
    assert keys["c"] == person_key(SECRET, "lvl", "c")
    rows = {
        (e, k, o, n) for e, k, o, n in events.select("event", "person_key", "other_person_key", "records").iter_rows()
    }
    assert ("split", "K1", keys["c"], 1) in rows
    assert ("merge", "K3", "K2", 1) in rows
    assert ("new", keys["c"], None, 1) in rows
    assert len(rows) == 3


def test_unchanged_clusters_keep_their_keys_and_retired_keys_are_not_reissued():
    spine0, _ = assign_person_keys(_clusters({"a": 1, "b": 1, "c": 2}), None, SECRET, "lvl")
    spine1, events = assign_person_keys(_clusters({"a": 7, "b": 7, "c": 9}), spine0, SECRET, "lvl")
    assert spine0.sort("record_ref")["person_key"].to_list() == spine1.sort("record_ref")["person_key"].to_list()
    assert events.is_empty()
    # c's cluster disappears (record withdrawn) then comes back alone: its old key was issued, so a salted one is used
    spine2, events2 = assign_person_keys(_clusters({"a": 7, "b": 7}), spine1, SECRET, "lvl")
    assert events2["event"].to_list() == ["retired"]
    old_c = dict(zip(spine1["record_ref"], spine1["person_key"]))["c"]
    spine3, _ = assign_person_keys(_clusters({"a": 7, "b": 7, "c": 3}), spine2, SECRET, "lvl", issued_keys={old_c})
    assert dict(zip(spine3["record_ref"], spine3["person_key"]))["c"] == person_key(SECRET, "lvl", "c", salt=1)


def test_secret_from_env_or_file(tmp_path):
    assert pseudonym_secret({"CMI_PSEUDONYM_KEY": "abc"}) == b"abc"
    path = tmp_path / "key"
    path.write_text("from-file\n")
    assert pseudonym_secret({"CMI_PSEUDONYM_KEY_FILE": str(path)}) == b"from-file"
    # the demo's key file in the data dir is found without naming it (dg dev on demo data)
    (tmp_path / ".pseudonym_key").write_text("demo-key\n")
    assert pseudonym_secret({"CMI_DATA_DIR": str(tmp_path)}) == b"demo-key"
    assert pseudonym_secret({"CMI_DATA_DIR": str(tmp_path), "CMI_PSEUDONYM_KEY_FILE": str(path)}) == b"from-file"
    with pytest.raises(MissingPseudonymKey) as error:
        pseudonym_secret({})
    assert "CMI_PSEUDONYM_KEY" in str(error.value)


@pytest.mark.parametrize("secret", [b"k", b"x" * 64, b"a-secret-longer-than-one-sha256-block-" * 3, "clé".encode()])
def test_keys_computed_in_duckdb_equal_the_hmac(secret):
    refs = ["births|registrations|B000000001|child", "child_protection|notifications|N1|person", "héalth|x|1|person"]
    spine, _ = assign_person_keys(_clusters({ref: i for i, ref in enumerate(refs)}), None, secret, "conservative")
    keys = dict(zip(spine["record_ref"], spine["person_key"]))
    assert keys == {
        ref: hmac.new(secret, f"conservative|{ref}|0".encode(), hashlib.sha256).hexdigest()[:32] for ref in refs
    }
