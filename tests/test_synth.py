"""Synthetic generator: determinism, the extract contract, and ground truth recomputed in SQL."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from trscohort.synth import generate
from trscohort.synth.reference import REFERENCE_DIR

AS_OF = date(2025, 12, 31)
EXTRACTS = {
    "patients": "patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date",
    "prescriptions": (
        "patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id,dose_mg,"
        "interval_days"
    ),
    "labs": "patient_id,collected_at,test_code,test_name,value,unit,reference_high",
    "diagnoses": "patient_id,code,code_system,diagnosed_at,description",
    "dispensings": "patient_id,drug,dispensed_date,days_supply",
    "assessments": "patient_id,assessed_at,instrument,score",
}
TRUTH_EVENTS = "patient_id,event_id,onset_date,on_clozapine,source"
TRUTH_PATIENTS_START = (
    "patient_id,archetype,trs_status,schizophrenia_dx,n_adequate_failed_trials,clozapine_status,"
    "clozapine_without_trs,clozapine_start_date,clozapine_stop_date,level_basis,"
    "therapeutic_level_date,adequate_trial_date,mon_anc_0_expected,mon_anc_0_observed"
)
TRS_STATUSES = {"no_schizophrenia_diagnosis", "not_trs", "pseudo_resistant", "trs"}
CLZ_STATUSES = {
    "not_on_clozapine",
    "titrating",
    "trial_in_progress",
    "inadequate_trial",
    "responder",
    "clozapine_resistant",
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """The clean story (mess_share=0): the SQL below recomputes the ground truth from it with
    exact reference spellings. The pipeline's ground-truth tests (test_trs_synthetic,
    test_clozapine_synthetic, ...) run on data/sample, which carries the default mess."""
    out = tmp_path_factory.mktemp("synth500")
    generate(500, 7, out, as_of=AS_OF, chunk_size=200, mess_share=0)
    return out


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth500_messy")
    generate(500, 7, out, as_of=AS_OF, chunk_size=200, mess_share=0.1)
    return out


@pytest.fixture(scope="module")
def con(cohort) -> duckdb.DuckDBPyConnection:
    """Extracts and ground truth as all-text tables, plus the drug reference."""
    db = duckdb.connect()
    for name in [*EXTRACTS, "gt_patients", "gt_events"]:
        path = cohort / (
            f"ground_truth/{name[3:]}.csv" if name.startswith("gt_") else f"{name}.csv"
        )
        db.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', all_varchar=true, header=true)"
        )
    for ref in ("antipsychotics", "comedications"):
        db.execute(
            f"CREATE TABLE ref_{ref} AS SELECT * FROM read_csv('{REFERENCE_DIR / ref}.csv', "
            "all_varchar=true, header=true)"
        )
    db.execute(DRUG_NAMES_SQL)
    return db


DRUG_NAMES_SQL = """
CREATE TABLE drug_names AS
SELECT DISTINCT trim(name) AS name, generic_name, formulation, is_clozapine = 'true' AS is_clozapine,
       -- mg/day == 100 mg CPZ by the default method order (G10, L16 = DDD/3, L20 x 100/30, DDD/3)
       coalesce(
           CAST(nullif(g10_median_mg, '') AS DOUBLE)
               / coalesce(CAST(nullif(g10_interval_days, '') AS DOUBLE), 1) / 6,
           CASE WHEN in_leucht2016 = 'true' THEN CAST(nullif(who_ddd_mg, '') AS DOUBLE) / 3 END,
           CAST(nullif(l20_olz_eq_mg, '') AS DOUBLE) * 100 / 30,
           CAST(nullif(who_ddd_mg, '') AS DOUBLE) / 3) AS eq100
FROM (SELECT *, unnest(string_split(names, '|')) AS name FROM ref_antipsychotics)
"""


def _header(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        return handle.readline().rstrip("\n")


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    runs = {}
    for label, seed in (("a", 11), ("b", 11), ("c", 12)):
        out = tmp_path / label
        generate(150, seed, out, chunk_size=60)
        runs[label] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.csv"))}
        runs[label]["manifest"] = (out / "manifest.json").read_bytes()
    assert runs["a"] == runs["b"]
    assert runs["a"][Path("labs.csv")] != runs["c"][Path("labs.csv")]


def test_mess_is_drawn_apart_from_the_clean_story(cohort, messy):
    """Patients, diagnoses and assessments are identical; labs and prescriptions keep every
    clean row (rewritten in place) plus the counted extra rows; the manifest counts the mess."""
    for name in ("patients", "diagnoses", "assessments"):
        assert (cohort / f"{name}.csv").read_bytes() == (messy / f"{name}.csv").read_bytes()
    clean = json.loads((cohort / "manifest.json").read_text())
    mess = json.loads((messy / "manifest.json").read_text())
    assert clean["mess_share"] == 0 and clean["mess_counts"] == {}
    counts = mess["mess_counts"]
    assert mess["mess_share"] == 0.1
    assert mess["row_counts"]["labs.csv"] == (
        clean["row_counts"]["labs.csv"] + counts["lab_unknown_tests"]
    )
    extra_rx = counts["lai_per_injection_in_daily_dose"] + counts["unlisted_comedications"]
    assert mess["row_counts"]["prescriptions.csv"] == (
        clean["row_counts"]["prescriptions.csv"] + extra_rx
    )
    assert mess["status_counts"] == clean["status_counts"]
    for kind in ("lab_names_rewritten", "lab_units_respelled", "drug_pack_descriptions",
                 "lai_written_per_injection", "lab_timestamps_with_utc_offset"):  # fmt: skip
        assert counts[kind] > 0, kind


def test_messy_lai_rows_carry_dose_per_injection(messy):
    db = duckdb.connect()
    rx = db.execute(
        f"SELECT route, daily_dose_mg, dose_mg, interval_days FROM read_csv('{messy}/prescriptions.csv', "
        "all_varchar=true) WHERE dose_mg IS NOT NULL"
    ).fetchall()
    assert rx and {r[0] for r in rx} == {"lai"}
    assert all(r[1] is None and r[3] in ("14", "28") for r in rx)


def test_contract_columns(cohort):
    for name, header in EXTRACTS.items():
        assert _header(cohort / f"{name}.csv") == header
    assert _header(cohort / "ground_truth/events.csv") == TRUTH_EVENTS
    assert _header(cohort / "ground_truth/patients.csv").startswith(TRUTH_PATIENTS_START)
    extract_files = {p.name for p in cohort.glob("*.csv")}
    assert extract_files == {f"{n}.csv" for n in EXTRACTS}


def test_row_counts_match_manifest(cohort):
    manifest = json.loads((cohort / "manifest.json").read_text())
    for relative, expected in manifest["row_counts"].items():
        with (cohort / relative).open(encoding="utf-8") as handle:
            assert sum(1 for _ in csv.reader(handle)) - 1 == expected, relative
    assert manifest["n_patients"] == 500 and manifest["seed"] == 7


def test_every_status_occurs(con):
    trs = {r[0] for r in con.execute("SELECT DISTINCT trs_status FROM gt_patients").fetchall()}
    clz = {
        r[0] for r in con.execute("SELECT DISTINCT clozapine_status FROM gt_patients").fetchall()
    }
    assert trs == TRS_STATUSES
    assert clz == CLZ_STATUSES


def test_extract_patient_ids_exist_except_noise(con):
    for name in EXTRACTS:
        unknown = con.execute(
            f"SELECT DISTINCT patient_id FROM {name} WHERE patient_id NOT IN "
            "(SELECT patient_id FROM patients)"
        ).fetchall()
        assert all(pid.startswith("PX") for (pid,) in unknown), name


def test_latest_extract_date_is_as_of(con):
    latest = con.execute(
        "SELECT max(TRY_CAST(left(collected_at, 10) AS DATE)) FROM labs"
    ).fetchone()[0]
    assert latest == AS_OF


def test_on_clozapine_events_inside_follow_up(con):
    outside = con.execute(
        """
        SELECT e.patient_id, e.event_id, e.onset_date
        FROM gt_events e JOIN gt_patients g USING (patient_id) JOIN patients p USING (patient_id)
        WHERE e.on_clozapine = 'true' AND NOT (
            CAST(e.onset_date AS DATE) >= CAST(g.clozapine_start_date AS DATE)
            AND CAST(e.onset_date AS DATE) <= least(
                coalesce(CAST(g.clozapine_stop_date AS DATE), DATE '2025-12-31'),
                coalesce(CAST(nullif(p.death_date, '') AS DATE), DATE '2025-12-31')))
        """
    ).fetchall()
    assert outside == []
    off = con.execute(
        """
        SELECT count(*) FROM gt_events e JOIN gt_patients g USING (patient_id)
        WHERE e.on_clozapine = 'false' AND g.clozapine_start_date IS NOT NULL
          AND CAST(e.onset_date AS DATE) >= CAST(g.clozapine_start_date AS DATE)
        """
    ).fetchone()[0]
    assert off == 0


def test_clozapine_levels_clear_of_boundaries(con):
    levels = con.execute(
        """
        SELECT CAST(value AS DOUBLE) * CASE WHEN unit = 'µmol/L' THEN 326.8 ELSE 1 END AS ng_ml
        FROM labs WHERE test_code = '6896-5' OR lower(test_name) LIKE '%clozapine%'
        """
    ).fetchall()
    assert levels
    assert all(v >= 390 or v <= 310 for (v,) in levels)


# --- TRS ground truth recomputed from the extracts ------------------------------------------
TRS_SQL = """
WITH pt AS (SELECT patient_id FROM patients),
rx AS (
    SELECT DISTINCT r.patient_id, d.generic_name, d.formulation, d.is_clozapine,
           CAST(r.start_date AS DATE) AS s,
           coalesce(CAST(nullif(r.end_date, '') AS DATE), DATE '{as_of}') AS e,
           CAST(r.daily_dose_mg AS DOUBLE) / d.eq100 * 100 AS cpz, r.route
    FROM prescriptions r JOIN drug_names d ON d.name = lower(r.drug)
    WHERE r.patient_id IN (SELECT patient_id FROM pt)
),
clz AS (SELECT patient_id, min(s) AS clz_start FROM rx WHERE is_clozapine GROUP BY 1),
ordered AS (
    SELECT *, max(e) OVER (PARTITION BY patient_id, generic_name ORDER BY s, e
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
    FROM rx WHERE NOT is_clozapine
),
numbered AS (
    SELECT *, sum(CASE WHEN prev_e IS NULL OR date_diff('day', prev_e, s) - 1 > 14 THEN 1 ELSE 0 END)
              OVER (PARTITION BY patient_id, generic_name ORDER BY s, e) AS ep
    FROM ordered
),
episodes AS (
    SELECT patient_id, generic_name, ep, min(s) AS s, max(e) AS e,
           date_diff('day', min(s), max(e)) + 1 AS days,
           sum(cpz * (date_diff('day', s, e) + 1)) / sum(date_diff('day', s, e) + 1) AS mean_cpz,
           bool_and(route = 'lai') AS lai
    FROM numbered GROUP BY ALL
),
disp AS (
    SELECT x.patient_id, d.generic_name, CAST(x.dispensed_date AS DATE) AS dd,
           CAST(x.days_supply AS INTEGER) AS supply
    FROM dispensings x JOIN drug_names d ON d.name = lower(x.drug)
),
covered AS (
    SELECT ep.patient_id, ep.generic_name, ep.ep, count(DISTINCT day) AS covered_days
    FROM episodes ep JOIN disp ON disp.patient_id = ep.patient_id AND disp.generic_name = ep.generic_name
    CROSS JOIN LATERAL (SELECT unnest(generate_series(disp.dd, disp.dd + (disp.supply - 1) * INTERVAL 1 DAY,
                                                      INTERVAL 1 DAY)) AS day)
    WHERE day BETWEEN ep.s AND ep.e
    GROUP BY ALL
),
scores AS (
    SELECT patient_id, CAST(assessed_at AS DATE) AS d, instrument, CAST(score AS INTEGER) AS score,
           (instrument = 'PANSS' AND CAST(score AS INTEGER) >= 70)
           OR (instrument = 'BPRS' AND CAST(score AS INTEGER) >= 45) AS high
    FROM assessments
),
trials AS (
    SELECT ep.*,
           ep.days >= 42 AND ep.mean_cpz >= 600
             AND (ep.lai OR coalesce(c.covered_days, 0) / ep.days >= 0.8) AS adequate,
           EXISTS (SELECT 1 FROM scores sc WHERE sc.patient_id = ep.patient_id AND sc.high
                   AND sc.d BETWEEN ep.e - 7 AND ep.e + 30) AS failed
    FROM episodes ep LEFT JOIN covered c USING (patient_id, generic_name, ep)
),
first_adequate_failed AS (
    SELECT patient_id, generic_name, min(e) AS e FROM trials WHERE adequate AND failed GROUP BY ALL
),
second AS (
    SELECT patient_id, e AS second_end FROM (
        SELECT *, row_number() OVER (PARTITION BY patient_id ORDER BY e, generic_name) AS rn
        FROM first_adequate_failed) WHERE rn = 2
),
latest AS (
    SELECT s2.patient_id,
           arg_max(sc.high, sc.d) FILTER (WHERE sc.instrument IN ('PANSS', 'BPRS')) AS latest_high,
           bool_and(sc.score >= 4) FILTER (WHERE sc.instrument = 'CGI-S') AS cgi_ok
    FROM second s2 JOIN scores sc ON sc.patient_id = s2.patient_id AND sc.d > s2.second_end
    LEFT JOIN clz ON clz.patient_id = s2.patient_id
    WHERE clz.clz_start IS NULL OR sc.d < clz.clz_start
    GROUP BY 1
),
per_patient AS (
    SELECT pt.patient_id,
           EXISTS (SELECT 1 FROM diagnoses dx WHERE dx.patient_id = pt.patient_id
                   AND upper(replace(dx.code, '.', '')) LIKE 'F20%') AS scz,
           (SELECT count(DISTINCT generic_name) FROM trials t
            WHERE t.patient_id = pt.patient_id AND t.failed) AS n_failed,
           (SELECT count(DISTINCT generic_name) FROM trials t
            WHERE t.patient_id = pt.patient_id AND t.failed AND t.adequate) AS n_adequate_failed,
           coalesce(l.latest_high, false) AS latest_high,
           coalesce(l.cgi_ok, true) AS cgi_ok
    FROM pt LEFT JOIN latest l USING (patient_id)
)
SELECT patient_id,
       CASE WHEN NOT scz THEN 'no_schizophrenia_diagnosis'
            WHEN n_adequate_failed >= 2 AND latest_high AND cgi_ok THEN 'trs'
            WHEN n_failed >= 2 AND n_adequate_failed < 2 THEN 'pseudo_resistant'
            ELSE 'not_trs' END AS status,
       n_adequate_failed
FROM per_patient
"""


def test_trs_status_recomputed_in_sql(con):
    rows = con.execute(
        f"""
        WITH recomputed AS ({TRS_SQL.format(as_of=AS_OF.isoformat())})
        SELECT g.patient_id, g.archetype, g.trs_status, r.status,
               CAST(g.n_adequate_failed_trials AS INTEGER), r.n_adequate_failed
        FROM gt_patients g JOIN recomputed r USING (patient_id)
        """
    ).fetchall()
    assert len(rows) == 500
    mismatches = [r for r in rows if r[2] != r[3]]
    assert mismatches == []
    # the trial count matches too, except where a no-F20 patient's trials are irrelevant
    assert all(r[4] == r[5] for r in rows)


# --- MON-ANC-1 observed windows recomputed from labs ------------------------------------------
ANC_SQL = """
WITH anc AS (
    SELECT DISTINCT l.patient_id, CAST(left(l.collected_at, 10) AS DATE) AS d
    FROM labs l
    WHERE (l.test_code IN ('751-8', '753-4', '26499-4')
           OR lower(l.test_name) IN ('anc', 'neutrophils #', 'absolute neutrophil count'))
      AND TRY_CAST(left(l.collected_at, 10) AS DATE) IS NOT NULL
),
course AS (
    SELECT g.patient_id, CAST(g.clozapine_start_date AS DATE) AS c,
           date_diff('day', CAST(g.clozapine_start_date AS DATE), least(
               DATE '2025-12-31',
               coalesce(CAST(g.clozapine_stop_date AS DATE), DATE '2025-12-31'),
               coalesce(CAST(nullif(p.death_date, '') AS DATE), DATE '2025-12-31'))) AS f,
           CAST(g.mon_anc_1_expected AS INTEGER) AS expected,
           CAST(g.mon_anc_1_observed AS INTEGER) AS observed
    FROM gt_patients g JOIN patients p USING (patient_id)
    -- a rechallenge has a schedule of its own (not recomputed here)
    WHERE g.clozapine_start_date IS NOT NULL AND g.rechallenge = 'false'
),
windows AS (
    SELECT c.patient_id, k FROM course c, range(1, 27) AS r(k) WHERE 7 * k + 3 <= c.f
)
SELECT c.patient_id, c.expected, c.observed,
       (SELECT count(*) FROM windows w WHERE w.patient_id = c.patient_id) AS expected_sql,
       (SELECT count(DISTINCT w.k) FROM windows w JOIN anc a ON a.patient_id = w.patient_id
        WHERE w.patient_id = c.patient_id
          AND abs(date_diff('day', c.c, a.d) - 7 * w.k) <= 3) AS observed_sql
FROM course c
"""


def test_mon_anc_1_recomputed_from_labs(con):
    rows = con.execute(ANC_SQL).fetchall()
    assert len(rows) > 50
    assert [r for r in rows if (r[1], r[2]) != (r[3], r[4])] == []
    # some patients miss windows, most do not
    assert any(r[2] < r[1] for r in rows) and any(r[2] == r[1] > 0 for r in rows)


# --- clozapine status evidence in the extracts -----------------------------------------------
CLOZAPINE_SQL = """
WITH clz_rx AS (
    SELECT r.patient_id, CAST(r.start_date AS DATE) AS s, CAST(r.daily_dose_mg AS DOUBLE) AS dose,
           nullif(r.end_date, '') IS NULL AS open_row
    FROM prescriptions r JOIN drug_names d ON d.name = lower(r.drug) WHERE d.is_clozapine
),
levels AS (
    SELECT patient_id, CAST(left(collected_at, 10) AS DATE) AS d,
           CAST(value AS DOUBLE) * CASE WHEN unit = 'µmol/L' THEN 326.8 ELSE 1 END AS ng_ml
    FROM labs WHERE lower(test_name) LIKE '%clozapine%'
      AND TRY_CAST(left(collected_at, 10) AS DATE) IS NOT NULL
),
scores AS (
    SELECT patient_id, CAST(assessed_at AS DATE) AS d,
           (instrument = 'PANSS' AND CAST(score AS INT) >= 70)
           OR (instrument = 'BPRS' AND CAST(score AS INT) >= 45) AS high
    FROM assessments WHERE instrument IN ('PANSS', 'BPRS')
)
SELECT g.patient_id, g.clozapine_status, g.level_basis,
       CAST(g.clozapine_start_date AS DATE) AS c,
       CAST(g.therapeutic_level_date AS DATE) AS tl,
       CAST(g.adequate_trial_date AS DATE) AS adequate,
       (SELECT min(s) FROM clz_rx x WHERE x.patient_id = g.patient_id) AS first_rx,
       (SELECT bool_or(open_row) FROM clz_rx x WHERE x.patient_id = g.patient_id) AS still_open,
       (SELECT count(*) FROM levels l WHERE l.patient_id = g.patient_id AND l.ng_ml >= 390
          AND l.d <= CAST(g.therapeutic_level_date AS DATE)
          AND l.d >= CAST(g.therapeutic_level_date AS DATE) - 60) AS high_levels,
       (SELECT count(*) FROM levels l WHERE l.patient_id = g.patient_id) AS n_levels,
       (SELECT min(s) FROM clz_rx x WHERE x.patient_id = g.patient_id AND dose >= 550) AS dose_550,
       (SELECT arg_min(high, d) FROM scores sc WHERE sc.patient_id = g.patient_id
          AND sc.d >= CAST(g.adequate_trial_date AS DATE)) AS first_after_adequate_high
FROM gt_patients g WHERE g.clozapine_start_date IS NOT NULL
"""


def test_clozapine_status_evidence(con):
    rows = con.execute(CLOZAPINE_SQL).fetchall()
    for pid, status, basis, c, tl, adequate, first_rx, open_, highs, n_lv, d550, late_high in rows:
        assert first_rx == c, pid
        if status == "titrating":
            assert open_ and 3 <= (AS_OF - c).days <= 12, pid
        if status in ("trial_in_progress", "responder", "clozapine_resistant"):
            if basis == "levels":
                assert highs >= 2, pid
            else:
                assert basis == "dose_500" and n_lv == 0 and d550 == tl, pid
        if status == "trial_in_progress":
            assert open_ and 20 <= (AS_OF - tl).days <= 70, pid
        if status in ("responder", "clozapine_resistant"):
            assert adequate == tl + timedelta(days=90), pid
            assert late_high is (status == "clozapine_resistant"), pid
