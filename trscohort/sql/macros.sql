{#- Jinja macros shared by the SQL models. Each renders to plain DuckDB SQL that SQLGlot can
    transpile to Spark (tests/test_sql_portability.py). Context: `date_formats`, `earliest_date`,
    `latest_date`, `canonical` (the extract's canonical column names). -#}

{%- macro blank(col) -%} NULLIF(TRIM({{ col }}), '') {%- endmacro %}

{#- A timestamp with a UTC offset (2024-03-01T08:30:00+01:00, ...Z, ... UTC) keeps its clock time
    as written: the offset is dropped, not applied, so the clinical day stays the one recorded. -#}
{%- macro _without_offset(col) -%}
CASE WHEN regexp_matches(TRIM({{ col }}), '[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*(Z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?)$')
     THEN regexp_replace(TRIM({{ col }}), '\s*(Z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?)$', '') ELSE TRIM({{ col }}) END
{%- endmacro %}
{%- macro parse_ts(col) -%}
TRY_STRPTIME(NULLIF({{ _without_offset(col) }}, ''), [{% for f in date_formats %}'{{ f | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}])
{%- endmacro %}

{%- macro parse_date(col) -%} CAST({{ parse_ts(col) }} AS DATE) {%- endmacro %}

{#- A decimal comma is read as a point, except "1,500": exactly three digits after the comma is
    ambiguous (thousands or decimals), stays unparsed, and its row is quarantined. NaN/inf too. -#}
{%- macro _number_text(col) -%}
CASE WHEN regexp_matches(TRIM({{ col }}), '^[-+]?[0-9]*,([0-9]{1,2}|[0-9]{4,})$')
     THEN replace(TRIM({{ col }}), ',', '.') ELSE TRIM({{ col }}) END
{%- endmacro %}
{#- abs(x) <= the largest double: false for NaN and +-inf in DuckDB and Spark alike (both
    order NaN above every number); Spark has no isfinite. -#}
{%- macro parse_number(col) -%}
CASE WHEN abs(TRY_CAST({{ _number_text(col) }} AS DOUBLE)) <= 1.7976931348623157e308
     THEN TRY_CAST({{ _number_text(col) }} AS DOUBLE) END
{%- endmacro %}

{%- macro norm_text(col) -%} lower(regexp_replace(TRIM({{ col }}), '\s+', ' ', 'g')) {%- endmacro %}

{#- Unit spelling normalisation; reference/lab_units.csv holds units in this normalised form. -#}
{#- Superscripts as labs print them: 10⁹/L -> 10^9/l, /mm³ -> /mm3. -#}
{%- macro norm_unit(col) -%}
regexp_replace(regexp_replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
  lower(TRIM({{ col }})), 'µ', 'u'), 'μ', 'u'), '×', 'x'), '*', '^'), '10⁹', '10^9'), '10⁶', '10^6'),
  '10³', '10^3'), '³', '3'), '²', '2'), '\s+', '', 'g'), '^x10', '10')
{%- endmacro %}

{#- Lab test names compared without punctuation: "Neutrophils, Absolute", "ANC (auto)" and LOINC
    long names "Clozapine [Mass/volume] in Serum or Plasma" all reduce to lower-case words;
    '#' and '%' stay as words of their own (count vs percentage). -#}
{%- macro lab_key(col) -%}
NULLIF(TRIM(regexp_replace(replace(replace(lower({{ col }}), '#', ' # '), '%', ' % '),
  '[^a-z0-9#%]+', ' ', 'g')), '')
{%- endmacro %}

{#- Drug names written with strength, form and pack ("Clozapine Mylan 100mg tab", "ZYPREXA
    10MG FILM-COATED TABLETS"): punctuation, words starting with a digit, and the dose-form,
    unit, frequency and salt words below are removed. Words that change the drug (decanoate,
    palmitate, depot, consta, lai, monohydrate ...) are kept. -#}
{%- set drug_form_words = ['tab', 'tabs', 'tablet', 'tablets', 'cap', 'caps', 'capsule',
    'capsules', 'inj', 'injection', 'injections', 'injectable', 'solution', 'soln', 'sol', 'susp',
    'suspension', 'oral', 'liquid', 'syrup', 'elixir', 'drops', 'film', 'coated', 'fc',
    'orodispersible', 'odt', 'dispersible', 'chewable', 'effervescent', 'modified', 'release',
    'mr', 'xl', 'xr', 'sr', 'er', 'cr', 'prolonged', 'extended', 'gastro', 'resistant', 'ec',
    'prefilled', 'pre', 'filled', 'syringe', 'syringes', 'pen', 'vial', 'vials', 'ampoule',
    'ampoules', 'amp', 'amps', 'pack', 'packs', 'blister', 'sachet', 'sachets', 'powder',
    'granules', 'for', 'of', 'x', 'as', 'per', 'each', 'sf', 'sugar', 'free', 'im', 'iv', 'sc',
    'po', 'od', 'bd', 'bid', 'tds', 'tid', 'qds', 'qid', 'nocte', 'mane', 'daily', 'once',
    'twice', 'weekly', 'monthly', 'every', 'week', 'weeks', 'day', 'days', 'month', 'months',
    'mg', 'mcg', 'ug', 'g', 'ml', 'l', 'microgram', 'micrograms', 'milligram', 'milligrams', 'iu',
    'unit', 'units', 'hydrochloride', 'hcl', 'hydrobromide', 'maleate', 'mesylate', 'mesilate',
    'fumarate', 'hemifumarate', 'tartrate', 'succinate', 'besylate', 'besilate', 'generic'] -%}
{%- macro drug_clean(col) -%}
NULLIF(TRIM(regexp_replace(regexp_replace(regexp_replace(
  regexp_replace(lower({{ col }}), '[^a-z0-9]+', ' ', 'g'),
  '\b[0-9][a-z0-9]*\b', ' ', 'g'),
  '\b({{ drug_form_words | join('|') }})\b', ' ', 'g'), '\s+', ' ', 'g')), '')
{%- endmacro %}

{#- A raw value as it is shown inside a quarantine reason. -#}
{%- macro shown(col) -%} coalesce('''' || left({{ col }}, 60) || '''', 'empty') {%- endmacro %}

{%- macro reason(cond, message) -%} CASE WHEN {{ cond }} THEN {{ message }} END {%- endmacro %}

{%- macro require(name) -%}
{{ reason(blank(name) ~ " IS NULL", "'missing " ~ name ~ "'") }}
{%- endmacro %}

{#- Reasons for a date column: unparseable, or outside [earliest_date, latest_date]. -#}
{%- macro check_date(name, parsed) -%}
{{ reason(blank(name) ~ " IS NOT NULL AND " ~ parsed ~ " IS NULL", "'unparseable " ~ name ~ " ' || " ~ shown(name)) }},
{{ reason(parsed ~ " < DATE '" ~ earliest_date ~ "' OR " ~ parsed ~ " > DATE '" ~ latest_date ~ "'",
          "'" ~ name ~ " outside plausible range: ' || CAST(" ~ parsed ~ " AS VARCHAR)") }}
{%- endmacro %}

{%- macro check_number(name, parsed) -%}
{{ reason(blank(name) ~ " IS NOT NULL AND " ~ parsed ~ " IS NULL", "'unparseable " ~ name ~ " ' || " ~ shown(name)) }}
{%- endmacro %}

{#- concat_ws skips NULLs; NULLIF turns "no reason at all" into NULL. -#}
{%- macro collect(reasons) -%} NULLIF(concat_ws('; ', {{ reasons }}), '') {%- endmacro %}

{#- The site's extra columns, carried through untouched: raw.py keeps them all in one struct
    column, `extras`, so the star below can only bring that (never a name used in a model). -#}
{%- macro extras(also=[]) -%}
* EXCLUDE (_row, _problem{% for c in canonical %}, {{ c }}, p_{{ c }}{% endfor %}{% for c in also %}, {{ c }}{% endfor %})
{%- endmacro %}

{%- macro normalise_route(col) -%}
CASE
    WHEN {{ blank(col) }} IS NULL THEN NULL
    WHEN {{ norm_text(col) }} IN ('oral', 'po', 'p.o.', 'by mouth', 'tablet', 'sublingual', 'sl') THEN 'oral'
    WHEN {{ norm_text(col) }} IN ('lai', 'depot', 'im depot', 'long-acting injectable',
                                  'long acting injectable', 'long-acting injection') THEN 'lai'
    ELSE 'other'
END
{%- endmacro %}

{#- Drug name -> concept, resolved once per distinct name (a few thousand), then joined back:
    the site vocabulary (reference.site_concepts, as written or cleaned) first, then the
    reference names: the full name ("haloperidol decanoate"), the cleaned name, the text before
    any dose ("olanzapine 10 mg"), the first two words ("Risperdal Consta ..."), the first word
    ("Clozaril tablets"), and a single reference name among the words ("Mylan clozapine").
    A name matching nothing stays unmapped: an "other drug", not an antipsychotic (reported in
    audit.unmapped_values). A route of 'lai' on an oral name means the long-acting form of the
    same generic. Defines CTE `with_drug` over `source` (which has p_patient_id, p_drug,
    drug_key and optionally p_route), adding patient columns (pt_known, pt_birth_date), drug
    columns (d_*) and `drug_mapped_by`. -#}
{%- set drug_helper_columns = ['drug_key', 'name_concept_id', 'drug_mapped_by', 'pt_known',
    'pt_birth_date', 'd_concept_id', 'd_generic_name', 'd_drug_class', 'd_is_antipsychotic',
    'd_is_clozapine', 'd_is_lai'] -%}
{#- `raw`: the raw table the source reads; the distinct spellings come straight from it, so the
    source is read once and never materialised (issue 17: millions of rows, a few hundred names). -#}
{%- macro resolve_drug(source, has_route=True, raw=None) -%}
drug_spellings AS (
    SELECT drug_key, {{ drug_clean('drug_key') }} AS clean_key
    FROM (
        {%- if raw %}
        SELECT DISTINCT {{ norm_text('drug') }} AS drug_key FROM (SELECT DISTINCT drug FROM {{ raw }}) AS d
        {%- else %}
        SELECT DISTINCT drug_key FROM {{ source }}
        {%- endif %}
    ) AS k
    WHERE drug_key IS NOT NULL
),

drug_single_word AS (
    SELECT w.drug_key, min(dn.concept_id) AS concept_id
    FROM (
        SELECT drug_key, unnest(string_split(clean_key, ' ')) AS word FROM drug_spellings
    ) AS w
    INNER JOIN reference.drug_names AS dn ON dn.name = w.word
    GROUP BY w.drug_key
    HAVING count(DISTINCT dn.concept_id) = 1
),

drug_vocabulary AS (
    SELECT
        k.drug_key,
        coalesce(site_full.source_key, site_clean.source_key) IS NOT NULL AS site_matched,
        CASE WHEN site_full.source_key IS NOT NULL THEN site_full.concept
             WHEN site_clean.source_key IS NOT NULL THEN site_clean.concept
             ELSE coalesce(full_name.concept_id, clean_name.concept_id, before_dose.concept_id,
                           two_words.concept_id, first_word.concept_id, single_word.concept_id)
        END AS name_concept_id
    FROM drug_spellings AS k
    LEFT JOIN reference.site_concepts AS site_full
        ON site_full.domain = 'drugs' AND site_full.source_key = k.drug_key
    LEFT JOIN reference.site_concepts AS site_clean
        ON site_clean.domain = 'drugs' AND site_clean.source_key = k.clean_key
    LEFT JOIN reference.drug_names AS full_name ON full_name.name = k.drug_key
    LEFT JOIN reference.drug_names AS clean_name ON clean_name.name = k.clean_key
    LEFT JOIN reference.drug_names AS before_dose
        ON before_dose.name = TRIM(regexp_extract(k.drug_key, '^([^0-9]*)', 1))
    LEFT JOIN reference.drug_names AS two_words
        ON two_words.name = split_part(k.clean_key, ' ', 1) || ' ' || split_part(k.clean_key, ' ', 2)
    LEFT JOIN reference.drug_names AS first_word ON first_word.name = split_part(k.clean_key, ' ', 1)
    LEFT JOIN drug_single_word AS single_word ON single_word.drug_key = k.drug_key
),

named AS (
    SELECT
        s.*,
        v.name_concept_id,
        CASE WHEN v.site_matched AND v.name_concept_id IS NULL THEN 'ignored'
             WHEN v.site_matched THEN 'site_vocabulary'
             WHEN v.name_concept_id IS NOT NULL THEN 'reference' END AS drug_mapped_by
    FROM {{ source }} AS s
    LEFT JOIN drug_vocabulary AS v ON v.drug_key = s.drug_key
),

with_drug AS (
    SELECT
        n.*,
        pt.patient_id IS NOT NULL AS pt_known,
        pt.birth_date AS pt_birth_date,
        d.concept_id AS d_concept_id,
        d.generic_name AS d_generic_name,
        d.drug_class AS d_drug_class,
        d.is_antipsychotic AS d_is_antipsychotic,
        d.is_clozapine AS d_is_clozapine,
        d.is_lai AS d_is_lai
    FROM named AS n
    LEFT JOIN reference.drugs AS by_name ON by_name.concept_id = n.name_concept_id
    LEFT JOIN reference.drugs AS lai
        ON {{ "n.p_route = 'lai'" if has_route else "FALSE" }} AND by_name.formulation = 'oral'
        AND by_name.is_antipsychotic AND lai.generic_name = by_name.generic_name AND lai.formulation = 'lai'
    LEFT JOIN reference.drugs AS d ON d.concept_id = coalesce(lai.concept_id, n.name_concept_id)
    LEFT JOIN staging.patients AS pt ON pt.patient_id = n.p_patient_id
)
{%- endmacro %}

{#- A drug name that matches no concept is not a reason: it is staged as an "other drug". -#}
{%- macro drug_reasons() -%}
{{ require('drug') }}
{%- endmacro %}

{#- Patient checks for event extracts: id present, known, and the event not before birth. -#}
{%- macro patient_reasons(date_name, parsed_date) -%}
{{ require('patient_id') }},
{{ reason("p_patient_id IS NOT NULL AND NOT pt_known", "'unknown patient_id ' || " ~ shown('patient_id')) }},
{{ reason(parsed_date ~ " < pt_birth_date", "'" ~ date_name ~ " before birth_date'") }}
{%- endmacro %}

{#- Patient lookup only (extracts without a drug). -#}
{%- macro join_patient(source) -%}
with_patient AS (
    SELECT s.*, pt.patient_id IS NOT NULL AS pt_known, pt.birth_date AS pt_birth_date
    FROM {{ source }} AS s
    LEFT JOIN staging.patients AS pt ON pt.patient_id = s.p_patient_id
)
{%- endmacro %}

{#- A number as an analyst reads it in a reason: 72 rather than 72.0, else one decimal (an
    absurd value beyond BIGINT, which staging lets through, prints as DuckDB writes it). -#}
{%- macro fmt_num(x) -%}
CASE WHEN {{ x }} = round({{ x }}) AND abs({{ x }}) < 1e15 THEN CAST(CAST({{ x }} AS BIGINT) AS VARCHAR)
     ELSE CAST(round({{ x }}, 1) AS VARCHAR) END
{%- endmacro %}

{#- Result qualifiers (ANC categories, AE-*, SAF-*, MON-ANC-0, TRS-5): a value written with a
    bound proves only what the bound implies. The staged number v with comparator c means the true
    value x satisfies x < v ('<'), x <= v ('<='), x > v ('>'), x >= v ('>=') or x = v (none).
    Each macro is TRUE only when the result proves the statement, FALSE otherwise:
    "<500" proves x < 500; "<=500" and "<1000" do not (they prove only x < 1000 and x <= 1000). -#}
{%- macro proves_below(value, comparator, threshold) -%}
CASE WHEN {{ comparator }} IS NULL THEN {{ value }} < {{ threshold }}
     WHEN {{ comparator }} = '<' THEN {{ value }} <= {{ threshold }}
     WHEN {{ comparator }} = '<=' THEN {{ value }} < {{ threshold }}
     ELSE FALSE END
{%- endmacro %}

{%- macro proves_at_most(value, comparator, threshold) -%}
CASE WHEN {{ comparator }} IS NULL OR {{ comparator }} IN ('<', '<=') THEN {{ value }} <= {{ threshold }}
     ELSE FALSE END
{%- endmacro %}

{%- macro proves_at_least(value, comparator, threshold) -%}
CASE WHEN {{ comparator }} IS NULL OR {{ comparator }} IN ('>', '>=') THEN {{ value }} >= {{ threshold }}
     ELSE FALSE END
{%- endmacro %}

{%- macro proves_above(value, comparator, threshold) -%}
CASE WHEN {{ comparator }} IS NULL THEN {{ value }} > {{ threshold }}
     WHEN {{ comparator }} = '>' THEN {{ value }} >= {{ threshold }}
     WHEN {{ comparator }} = '>=' THEN {{ value }} > {{ threshold }}
     ELSE FALSE END
{%- endmacro %}

{#- The ANC table (2015 US REMS) with the qualifier rule: the category the result proves, or,
    when a bound spans several categories, the range it proves (`a` = cfg.anc):
      general: severe < moderate_min <= moderate < mild_min <= mild < normal_min <= normal
      BEN:     severe < moderate_min <= moderate < ben_normal_min <= normal
      ranges:  moderate_or_severe (proves < mild_min, general; < ben_normal_min, BEN),
               mild_or_worse (proves < normal_min), mild_or_normal (proves >= mild_min),
               not_severe (proves >= moderate_min), indeterminate (proves nothing). -#}
{%- macro anc_category(value, comparator, ben, a) -%}
CASE
    WHEN {{ proves_below(value, comparator, a.moderate_min) }} THEN 'severe'
    WHEN {{ ben }} THEN
        CASE
            WHEN {{ proves_at_least(value, comparator, a.ben_normal_min) }} THEN 'normal'
            WHEN {{ proves_at_least(value, comparator, a.moderate_min) }}
                AND {{ proves_below(value, comparator, a.ben_normal_min) }} THEN 'moderate'
            WHEN {{ proves_below(value, comparator, a.ben_normal_min) }} THEN 'moderate_or_severe'
            WHEN {{ proves_at_least(value, comparator, a.moderate_min) }} THEN 'not_severe'
            ELSE 'indeterminate'
        END
    WHEN {{ proves_at_least(value, comparator, a.normal_min) }} THEN 'normal'
    WHEN {{ proves_at_least(value, comparator, a.mild_min) }}
        AND {{ proves_below(value, comparator, a.normal_min) }} THEN 'mild'
    WHEN {{ proves_at_least(value, comparator, a.moderate_min) }}
        AND {{ proves_below(value, comparator, a.mild_min) }} THEN 'moderate'
    WHEN {{ proves_below(value, comparator, a.mild_min) }} THEN 'moderate_or_severe'
    WHEN {{ proves_below(value, comparator, a.normal_min) }} THEN 'mild_or_worse'
    WHEN {{ proves_at_least(value, comparator, a.mild_min) }} THEN 'mild_or_normal'
    WHEN {{ proves_at_least(value, comparator, a.moderate_min) }} THEN 'not_severe'
    ELSE 'indeterminate'
END
{%- endmacro %}

{#- TRS-1: the code family of a staged or reference code_system (upper case, no separators):
    ICD-10 (WHO and ICD-10-CM together: sites often label ICD-10-CM codes "ICD10"), ICD-9 or
    SNOMED CT. reference.icd10_groups rows of one family apply to every code of that family. -#}
{%- macro code_family(col) -%}
CASE
    WHEN {{ col }} LIKE 'ICD10%' THEN 'ICD10'
    WHEN {{ col }} LIKE 'ICD9%' THEN 'ICD9'
    WHEN {{ col }} LIKE 'SNOMED%' OR {{ col }} IN ('SCT', 'SCTID') THEN 'SNOMED'
END
{%- endmacro %}
