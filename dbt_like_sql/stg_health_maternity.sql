-- Maternity records: one row per maternity event, the mother's identity, the
-- baby's date of birth, plurality, gestation and smoking at booking.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same maternity_id arrived in more than one extract file
-- (a corrected re-delivery), the most recently delivered file wins (then the later
-- file name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(maternity_id), '') as maternity_id,
        nullif(trim(mother_health_id), '') as mother_health_id,
        nullif(trim(mother_given_name), '') as mother_given_name,
        nullif(trim(mother_family_name), '') as mother_family_name,
        mother_dob,
        baby_dob,
        plurality,
        gestation_weeks,
        nullif(upper(trim(smoking_at_booking)), '') as smoking_at_booking,
        nullif(trim(postcode), '') as postcode,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.health__maternity
)

select
    maternity_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by maternity_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
