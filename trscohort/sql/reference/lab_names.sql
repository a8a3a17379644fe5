{%- import 'macros.sql' as m with context -%}
-- Lab test names -> canonical analyte, compared without case or punctuation (macro lab_key):
-- the local names of lab_analytes.csv and the LOINC long common names, short names and local
-- spellings of lab_synonyms.csv. `unit_required`: the name alone is ambiguous ("Neutrophils" is
-- also the % differential), so a row maps only when its unit is one of the analyte's units.
WITH names AS (
    SELECT analyte, unnest(string_split(names, '|')) AS name, FALSE AS unit_required
    FROM reference.lab_analytes
    UNION ALL
    SELECT analyte, name, CAST(unit_required AS BOOLEAN) AS unit_required
    FROM reference.lab_synonyms
)

SELECT {{ m.lab_key('name') }} AS name, analyte, bool_and(unit_required) AS unit_required
FROM names
WHERE {{ m.lab_key('name') }} IS NOT NULL
GROUP BY {{ m.lab_key('name') }}, analyte
