-- Mental health and addiction service contacts: one row per contact, with the
-- service type and diagnosis group (SUBSTANCE, OTHER_MH).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same contact_id arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(health_id), '') as health_id,
        nullif(trim(given_name), '') as given_name,
        nullif(trim(family_name), '') as family_name,
        dob,
        nullif(upper(trim(sex)), '') as sex,
        contact_date,
        nullif(upper(trim(service_type)), '') as service_type,
        nullif(upper(trim(diagnosis_group)), '') as diagnosis_group,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.health__mental_health
)

select
    contact_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by contact_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
