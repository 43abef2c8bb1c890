-- Children included in a caregiver's benefit: one row per inclusion, with the
-- child's identity, the caregiver's relationship and the claim date.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same inclusion_id arrived in more than one extract file
-- (a corrected re-delivery), the most recently delivered file wins (then the later
-- file name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(inclusion_id), '') as inclusion_id,
        nullif(trim(client_id), '') as client_id,
        nullif(trim(child_client_id), '') as child_client_id,
        nullif(trim(child_first_name), '') as child_first_name,
        nullif(trim(child_middle_name), '') as child_middle_name,
        nullif(trim(child_surname), '') as child_surname,
        child_dob,
        nullif(upper(trim(child_gender)), '') as child_gender,
        nullif(upper(trim(relationship)), '') as relationship,
        inclusion_start,
        inclusion_end,
        claim_date,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.benefits__children
)

select
    inclusion_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by inclusion_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
