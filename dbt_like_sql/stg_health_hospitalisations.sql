-- Hospital discharges: one row per event with the ICD-10-AM diagnosis and external
-- cause codes (T74 maltreatment, S06 intracranial injury, long-bone fractures,
-- X85-Y09 assault).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same event_id arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(event_id), '') as event_id,
        nullif(trim(health_id), '') as health_id,
        nullif(trim(given_name), '') as given_name,
        nullif(trim(family_name), '') as family_name,
        dob,
        nullif(upper(trim(sex)), '') as sex,
        admit_date,
        discharge_date,
        nullif(trim(diagnosis_code), '') as diagnosis_code,
        nullif(trim(external_cause_code), '') as external_cause_code,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.health__hospitalisations
)

select
    event_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by event_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
