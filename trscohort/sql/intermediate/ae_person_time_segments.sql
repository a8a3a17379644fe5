{%- set ae = cfg.adverse_events -%}
{%- set weeks = ae.time_since_start_weeks -%}
{%- set doses = ae.dose_bands_mg -%}
{%- set ages = ae.age_bands_years -%}
-- Time at risk on clozapine of new users (intermediate.ae_risk_periods, every grace period) cut
-- into segments of constant stratum:
--   course            first or rechallenge (the course the exposure episode belongs to)
--   exposure          on treatment, or grace period (after the last clozapine day of the episode)
--   time_since_start  weeks since the current course's start, cut at adverse_events.time_since_start_weeks
--                     ("weeks 0-4" = days 0-27, "weeks 4-18" = days 28-125, ...; week w is days 7w..7w+6)
--   dose_band         daily dose of the clozapine dose period covering the day, cut at
--                     adverse_events.dose_bands_mg (< first cut, the top inner band closed:
--                     300 <= dose <= 600 is "300-600", above the last cut is "> last");
--                     'unknown' without a dose, 'after stop' in the risk window after a stop
--   age_band          completed years at the day, cut at adverse_events.age_bands_years (the band
--                     changes on the birthday; 29 February birthdays fall on 28 February)
--   sex
-- A segment starts on the day its stratum starts: an event on that day belongs to the new stratum.
WITH periods AS (
    SELECT * FROM {{ ref('intermediate.ae_risk_periods') }} WHERE new_user
),

courses AS (
    SELECT DISTINCT patient_id, course_start FROM periods
),

dose_periods AS (
    SELECT dp.patient_id, dp.period_start, dp.period_end, dp.daily_dose_mg
    FROM {{ ref('intermediate.clozapine_dose_periods') }} AS dp
    WHERE dp.patient_id IN (SELECT patient_id FROM periods)
),

patients AS (
    SELECT DISTINCT patient_id, birth_date FROM periods
),

-- Days on which a stratum can change.
breakpoints AS (
    SELECT patient_id, at_risk_start AS day FROM periods
    UNION
    SELECT patient_id, at_risk_end + 1 AS day FROM periods
    UNION
    SELECT patient_id, exposure_end + 1 AS day FROM periods
    {%- for w in weeks %}
    UNION
    SELECT patient_id, course_start + {{ 7 * w }} AS day FROM courses
    {%- endfor %}
    {%- for a in ages %}
    UNION
    SELECT patient_id, CAST(birth_date + INTERVAL '{{ a }}' YEAR AS DATE) AS day FROM patients
    {%- endfor %}
    UNION
    SELECT patient_id, period_start AS day FROM dose_periods
    UNION
    SELECT patient_id, period_end + 1 AS day FROM dose_periods
),

pieces AS (
    SELECT
        patient_id,
        day AS piece_start,
        lead(day) OVER (PARTITION BY patient_id ORDER BY day) - 1 AS piece_end
    FROM breakpoints
),

-- Pieces inside a period at risk (period ends are breakpoints, so a piece is wholly inside).
at_risk AS (
    SELECT
        r.grace_days,
        p.patient_id,
        r.exposure_episode,
        r.course_number,
        r.course,
        r.course_start,
        r.exposure_end,
        r.at_risk_end,
        r.end_reason,
        r.birth_date,
        r.sex,
        p.piece_start,
        p.piece_end,
        date_diff('day', r.course_start, p.piece_start) AS piece_day
    FROM pieces AS p
    INNER JOIN periods AS r
        ON r.patient_id = p.patient_id
        AND p.piece_start BETWEEN r.at_risk_start AND r.at_risk_end
),

classified AS (
    SELECT
        a.*,
        CASE
            {%- for w in weeks %}
            WHEN a.piece_day < {{ 7 * w }} THEN 'weeks {{ weeks[loop.index0 - 1] if not loop.first else 0 }}-{{ w }}'
            {%- endfor %}
            ELSE 'weeks >{{ weeks[-1] }}'
        END AS time_since_start,
        CASE WHEN a.piece_start > a.exposure_end THEN 'grace period' ELSE 'on treatment' END AS exposure,
        CASE
            WHEN a.piece_start > a.exposure_end THEN 'after stop'
            WHEN dp.daily_dose_mg IS NULL THEN 'unknown'
            WHEN dp.daily_dose_mg < {{ doses[0] }} THEN '<{{ doses[0] }}'
            {%- for d in doses[1:] %}
            WHEN dp.daily_dose_mg {{ '<=' if loop.last else '<' }} {{ d }} THEN '{{ doses[loop.index0] }}-{{ d }}'
            {%- endfor %}
            ELSE '>{{ doses[-1] }}'
        END AS dose_band,
        CASE
            WHEN a.birth_date IS NULL THEN 'unknown'
            {%- for y in ages %}
            WHEN a.piece_start < CAST(a.birth_date + INTERVAL '{{ y }}' YEAR AS DATE)
                THEN '{{ ("<" ~ y) if loop.first else (ages[loop.index0 - 1] ~ "-" ~ (y - 1)) }}'
            {%- endfor %}
            ELSE '{{ ages[-1] }}+'
        END AS age_band
    FROM at_risk AS a
    LEFT JOIN dose_periods AS dp
        ON dp.patient_id = a.patient_id
        AND a.piece_start BETWEEN dp.period_start AND dp.period_end
),

-- Merge neighbouring pieces of the same stratum (dose changes inside one band, ...).
marked AS (
    SELECT
        *,
        CASE
            WHEN lag(piece_end) OVER w = piece_start - 1
                AND lag(time_since_start) OVER w = time_since_start
                AND lag(exposure) OVER w = exposure
                AND lag(dose_band) OVER w = dose_band
                AND lag(age_band) OVER w = age_band THEN 0
            ELSE 1
        END AS starts_segment
    FROM classified
    WINDOW w AS (PARTITION BY grace_days, patient_id, exposure_episode ORDER BY piece_start)
),

numbered AS (
    SELECT
        *,
        sum(starts_segment) OVER (
            PARTITION BY grace_days, patient_id, exposure_episode ORDER BY piece_start
            ROWS UNBOUNDED PRECEDING
        ) AS segment_number
    FROM marked
)

SELECT
    grace_days,
    patient_id,
    exposure_episode,
    min(course_number) AS course_number,
    min(course) AS course,
    CAST(segment_number AS INTEGER) AS segment_number,
    min(piece_start) AS segment_start,
    max(piece_end) AS segment_end,
    date_diff('day', min(course_start), min(piece_start)) AS start_day,
    date_diff('day', min(course_start), max(piece_end)) AS end_day,
    date_diff('day', min(piece_start), max(piece_end)) + 1 AS days,
    min(time_since_start) AS time_since_start,
    min(exposure) AS exposure,
    min(dose_band) AS dose_band,
    min(sex) AS sex,
    min(age_band) AS age_band,
    CASE WHEN max(piece_end) = min(at_risk_end) THEN min(end_reason) ELSE 'next_stratum' END
        AS segment_end_reason
FROM numbered
GROUP BY grace_days, patient_id, exposure_episode, segment_number
