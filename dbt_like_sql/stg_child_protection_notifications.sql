-- Care-and-protection notifications (reports of concern), police family-violence
-- referrals and FV contact records: one row per notification, with the child's and
-- caregivers' identities as recorded (not verified).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same notification_id arrived in more than one extract
-- file (a corrected re-delivery), the most recently delivered file wins (then the
-- later file name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(notification_id), '') as notification_id,
        nullif(trim(cp_person_id), '') as cp_person_id,
        nullif(trim(given_name), '') as given_name,
        nullif(trim(family_name), '') as family_name,
        dob,
        age_years,
        nullif(upper(trim(sex)), '') as sex,
        notification_date,
        nullif(upper(trim(source)), '') as source,
        nullif(upper(trim(record_kind)), '') as record_kind,
        nullif(upper(trim(further_action)), '') as further_action,
        nullif(trim(office_code), '') as office_code,
        nullif(trim(caregiver1_given_name), '') as caregiver1_given_name,
        nullif(trim(caregiver1_family_name), '') as caregiver1_family_name,
        caregiver1_dob,
        nullif(trim(caregiver2_given_name), '') as caregiver2_given_name,
        nullif(trim(caregiver2_family_name), '') as caregiver2_family_name,
        nullif(trim(address_line), '') as address_line,
        nullif(trim(postcode), '') as postcode,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.child_protection__notifications
)

select
    notification_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by notification_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
