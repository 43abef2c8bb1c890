-- Investigations and assessments that follow notifications: one row per
-- investigation and abuse type, with the finding.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same investigation_id and abuse_type arrived in more than
-- one extract file (a corrected re-delivery), the most recently delivered file wins
-- (then the later file name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`)
-- are kept.
with cleaned as (
    select
        nullif(trim(investigation_id), '') as investigation_id,
        nullif(trim(notification_id), '') as notification_id,
        nullif(trim(cp_person_id), '') as cp_person_id,
        nullif(upper(trim(response)), '') as response,
        start_date,
        completed_date,
        nullif(upper(trim(abuse_type)), '') as abuse_type,
        nullif(upper(trim(finding)), '') as finding,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.child_protection__investigations
)

select
    concat_ws('|', investigation_id, abuse_type) as record_key,
    *
from cleaned
qualify row_number() over (
    partition by investigation_id, abuse_type
    order by _extract_delivered_at desc, _extract_file desc
) = 1
