-- NCANDS Child File records of every state (CFSR R4 rules, section 6): one row per
-- submission year and report-child pair (subyr, staterr, rptid, chid). A pair present
-- in two submission years stays twice: choosing between them is the CFSR rules' job
-- (section 2.1 step 2); only a re-delivery of the same submission year is collapsed.
-- Column names are the NCANDS element names in lower case.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same submission year and report-child pair arrived in
-- more than one extract file (a corrected re-delivery), the most recently delivered
-- file wins (then the later file name). Provenance columns (_extract_*, _row_number,
-- _loaded_at) are kept.
with cleaned as (
    select
        SUBYR as subyr,
        nullif(trim(STATERR), '') as staterr,
        nullif(trim(RPTID), '') as rptid,
        nullif(trim(CHID), '') as chid,
        nullif(trim(RPTCNTY), '') as rptcnty,
        RPTDT as rptdt,
        INVDATE as invdate,
        nullif(upper(trim(RPTSRC)), '') as rptsrc,
        nullif(upper(trim(RPTDISP)), '') as rptdisp,
        RPTDISDT as rptdisdt,
        nullif(upper(trim(NOTIFS)), '') as notifs,
        CHAGE as chage,
        CHBDATE as chbdate,
        nullif(upper(trim(CHSEX)), '') as chsex,
        nullif(upper(trim(CHRACAI)), '') as chracai,
        nullif(upper(trim(CHRACAS)), '') as chracas,
        nullif(upper(trim(CHRACBL)), '') as chracbl,
        nullif(upper(trim(CHRACNH)), '') as chracnh,
        nullif(upper(trim(CHRACWH)), '') as chracwh,
        nullif(upper(trim(CHRACUD)), '') as chracud,
        nullif(upper(trim(CHETHN)), '') as chethn,
        nullif(trim(CHCNTY), '') as chcnty,
        nullif(upper(trim(CHLVNG)), '') as chlvng,
        nullif(upper(trim(CHMIL)), '') as chmil,
        nullif(upper(trim(CHPRIOR)), '') as chprior,
        nullif(upper(trim(CHMAL1)), '') as chmal1,
        nullif(upper(trim(MAL1LEV)), '') as mal1lev,
        nullif(upper(trim(CHMAL2)), '') as chmal2,
        nullif(upper(trim(MAL2LEV)), '') as mal2lev,
        nullif(upper(trim(CHMAL3)), '') as chmal3,
        nullif(upper(trim(MAL3LEV)), '') as mal3lev,
        nullif(upper(trim(CHMAL4)), '') as chmal4,
        nullif(upper(trim(MAL4LEV)), '') as mal4lev,
        nullif(upper(trim(MALDEATH)), '') as maldeath,
        nullif(trim(AFCARSID), '') as afcarsid,
        INCIDDT as inciddt,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.child_protection__ncands_child
)

select
    concat_ws('|', staterr, rptid, chid) as record_key,
    *
from cleaned
qualify row_number() over (
    partition by subyr, staterr, rptid, chid
    order by _extract_delivered_at desc, _extract_file desc
) = 1
