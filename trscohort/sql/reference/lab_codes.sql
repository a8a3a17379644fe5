-- LOINC (or local) test codes -> canonical analyte.
SELECT DISTINCT TRIM(code) AS code, analyte
FROM (SELECT analyte, unnest(string_split(codes, '|')) AS code FROM reference.lab_analytes) AS c
WHERE TRIM(code) <> ''
