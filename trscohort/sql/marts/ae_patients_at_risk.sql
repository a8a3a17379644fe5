-- Distinct patients with days at risk (all episodes) per site, course start year (and all
-- years), event and stratum of every stratifier: the adverse-events page withholds the
-- person-time of a cell with few patients at risk. No patient identifier.
--
-- Counted once per patient and segment rather than per event: a patient's segments are the
-- same for every event (only time inside an open episode differs), so each (patient, start
-- year, strata) row carries the events it is at risk of as bits of one integer, 62 events
-- per chunk (11 million person-time rows at 1,000,000 patients become 1.3 million). Per
-- stratum the bits are OR-ed per patient; the patients at risk of an event are the rows with
-- its bit, counted per pattern of bits first (a few per cell).
{%- set strata = ('time_since_start', 'dose_band', 'age_band', 'sex', 'course', 'exposure') %}
{%- set stratum -%}
CASE x.stratifier
{%- for column in strata %} WHEN '{{ column }}' THEN coalesce(s.{{ column }}, 'unknown'){% endfor %} ELSE 'all' END
{%- endset %}
WITH at_risk AS (
    SELECT *
    FROM {{ ref('marts.clozapine_person_time') }}
    WHERE analysis = 'all_episodes' AND days > 0 AND segment_start IS NOT NULL
),
events AS (
    SELECT
        event_id,
        CAST(floor(event_index / 62) AS INTEGER) AS event_chunk,
        event_index % 62 AS event_bit
    FROM (
        SELECT event_id, CAST(row_number() OVER (ORDER BY event_id) - 1 AS INTEGER) AS event_index
        FROM (SELECT DISTINCT event_id FROM at_risk) AS d
    ) AS numbered
),
segments AS (
    SELECT
        t.site,
        t.patient_id,
        year(t.segment_start - CAST(t.start_day AS INTEGER)) AS start_year,
{%- for column in strata %}
        CAST(t.{{ column }} AS VARCHAR) AS {{ column }},
{%- endfor %}
        e.event_chunk,
        bit_or(CAST(1 AS BIGINT) << e.event_bit) AS event_bits
    FROM at_risk AS t
    JOIN events AS e ON e.event_id = t.event_id
    GROUP BY
        t.site, t.patient_id, year(t.segment_start - CAST(t.start_day AS INTEGER)),
        t.time_since_start, t.dose_band, t.age_band, t.sex, t.course, t.exposure, e.event_chunk
),
by_stratum AS (
    SELECT site, patient_id, start_year, event_chunk, stratifier, stratum,
        bit_or(event_bits) AS event_bits
    FROM (
        SELECT s.site, s.patient_id, s.start_year, s.event_chunk, x.stratifier,
            {{ stratum }} AS stratum, s.event_bits
        FROM segments AS s
        CROSS JOIN (
            VALUES ('overall'), ('time_since_start'), ('dose_band'), ('age_band'), ('sex'),
                ('course'), ('exposure')
        ) AS x (stratifier)
    ) AS stratified
    GROUP BY site, patient_id, start_year, event_chunk, stratifier, stratum
),
patterns AS (
    SELECT site, FALSE AS all_years, start_year, event_chunk, stratifier, stratum, event_bits,
        count(*) AS patients
    FROM by_stratum
    GROUP BY site, start_year, event_chunk, stratifier, stratum, event_bits
    UNION ALL
    SELECT site, TRUE AS all_years, CAST(NULL AS INTEGER) AS start_year, event_chunk,
        stratifier, stratum, event_bits, count(*) AS patients
    FROM (
        SELECT site, patient_id, event_chunk, stratifier, stratum, bit_or(event_bits) AS event_bits
        FROM by_stratum
        GROUP BY site, patient_id, event_chunk, stratifier, stratum
    ) AS over_all_years
    GROUP BY site, event_chunk, stratifier, stratum, event_bits
)
SELECT
    p.site,
    p.all_years,
    p.start_year,
    e.event_id,
    p.stratifier,
    p.stratum,
    sum(p.patients) AS patients
FROM patterns AS p
JOIN events AS e
    ON e.event_chunk = p.event_chunk AND ((p.event_bits >> e.event_bit) & 1) = 1
GROUP BY p.site, p.all_years, p.start_year, e.event_id, p.stratifier, p.stratum
