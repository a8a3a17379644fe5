"""On the synthetic cohort the clozapine models recover the generator's ground truth: the status
(and its dates) of every patient and the injected ANC monitoring counts (MON-ANC-0..3)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import ingest_folder
from trscohort.config import load_config
from trscohort.models import build_transform
from trscohort.run_parameters import record_run_parameters

synth = pytest.importorskip("trscohort.synth")
if not hasattr(synth, "generate"):
    pytest.skip("trscohort.synth.generate not available", allow_module_level=True)

# ground-truth column -> our expression (s = marts.patient_clozapine_status)
COMPARED = {
    "clozapine_status": "s.clozapine_status",
    "clozapine_start_date": "CAST(s.clozapine_start_date AS VARCHAR)",
    "level_basis": "s.level_basis",
    "therapeutic_level_date": "CAST(s.therapeutic_level_date AS VARCHAR)",
    "adequate_trial_date": "CAST(s.adequate_trial_date AS VARCHAR)",
    "clozapine_stop_date": (
        "CASE WHEN NOT s.on_clozapine_at_as_of THEN CAST(s.follow_up_end AS VARCHAR) END"
    ),
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    manifest = synth.generate(500, 7, folder)
    cfg = load_config()
    con = ingest_folder(folder)
    as_of = dt.date.fromisoformat(manifest["as_of"])
    record_run_parameters(con, cfg, as_of=as_of, input_dir=str(folder), mapping_path=None)
    build_transform(con, cfg)
    con.execute(
        "CREATE TABLE truth AS SELECT * FROM read_csv(?, all_varchar = true)",
        [str(folder / "ground_truth" / "patients.csv")],
    )
    return con


def test_clozapine_status_matches_ground_truth_for_every_patient(synthetic):
    con = synthetic
    confusion = con.execute(
        "SELECT t.clozapine_status, s.clozapine_status, count(*) FROM truth AS t "
        "FULL JOIN marts.patient_clozapine_status AS s USING (patient_id) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    print("\nclozapine status: ground truth -> ours")
    for truth, ours, n in confusion:
        print(f"  {truth!s:<22}{ours!s:<22}{n:>6}")
    assert sum(n for *_, n in confusion) == 500
    assert all(truth == ours for truth, ours, _ in confusion)
    for truth_column, ours in COMPARED.items():
        differ = con.execute(
            f"SELECT t.patient_id, t.{truth_column}, {ours} FROM truth AS t "
            "JOIN marts.patient_clozapine_status AS s USING (patient_id) "
            f"WHERE coalesce(NULLIF(t.{truth_column}, ''), '-') <> coalesce({ours}, '-')"
        ).fetchall()
        assert differ == [], truth_column


@pytest.mark.parametrize("rule", [0, 1, 2, 3])
def test_injected_anc_monitoring_is_recovered(synthetic, rule):
    differ = synthetic.execute(
        f"SELECT t.patient_id, t.mon_anc_{rule}_expected, t.mon_anc_{rule}_observed, "
        "a.expected_tests, a.observed_tests FROM truth AS t "
        "LEFT JOIN marts.monitoring_adherence AS a "
        f"ON a.patient_id = t.patient_id AND a.rule_id = 'MON-ANC-{rule}' "
        f"WHERE CAST(t.mon_anc_{rule}_expected AS INTEGER) <> coalesce(a.expected_tests, 0) "
        f"OR CAST(t.mon_anc_{rule}_observed AS INTEGER) <> coalesce(a.observed_tests, 0)"
    ).fetchall()
    assert differ == []
    due = synthetic.execute(
        f"SELECT sum(CAST(mon_anc_{rule}_expected AS INTEGER)) FROM truth"
    ).fetchone()[0]
    assert due > 0


def test_safety_flags_match_the_injected_scenarios(synthetic):
    scenarios = {
        "SAF-DOSE": ("t.dose_gt_600 = 'true' AND t.valproate = 'false'", "flag_id = 'SAF-DOSE'"),
        "cyp1a2": (
            "t.cyp1a2_inhibitor = 'true'",
            "flag_id = 'SAF-DDI' AND detail LIKE '%cyp1a2_inhibitor%'",
        ),
        "benzodiazepine": (
            "t.benzodiazepine = 'true'",
            "flag_id = 'SAF-DDI' AND detail LIKE '%benzodiazepine%'",
        ),
        "SAF-PREG": ("t.pregnancy_on_clozapine = 'true'", "flag_id = 'SAF-PREG'"),
        "SAF-LACT": ("t.lactation_on_clozapine = 'true'", "flag_id = 'SAF-LACT'"),
        "SAF-REC": ("t.rechallenge = 'true'", "flag_id = 'SAF-REC'"),
    }
    for name, (truth, ours) in scenarios.items():
        differ = synthetic.execute(
            f"SELECT t.patient_id FROM truth AS t WHERE ({truth}) <> EXISTS ("
            f"SELECT 1 FROM marts.safety_flags AS f WHERE f.patient_id = t.patient_id AND {ours})"
        ).fetchall()
        assert differ == [], name
