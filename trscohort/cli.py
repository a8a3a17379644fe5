"""Command line: `trscohort run`, `explain`, `synth` and `vocab suggest`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trscohort.contract import default_input_dir
from trscohort.errors import UsageError


def _run(args: argparse.Namespace) -> int:
    from trscohort.engines import parquet
    from trscohort.quality import checks_summary
    from trscohort.runner import RunOptions, run_pipeline
    from trscohort.summary import run_summary

    if args.omop and args.input:
        raise UsageError("give --input (extract files) or --omop (an OMOP CDM), not both")
    if args.omop_schema and not args.omop:
        raise UsageError("--omop-schema needs --omop")
    if args.engine != "spark" and (args.spark_master or args.spark_remote):
        raise UsageError("--spark-master and --spark-remote need --engine spark")
    if args.engine == "spark" and args.omop:
        # The OMOP reader is DuckDB's (a CDM file or folder read in place): not ported.
        raise UsageError(
            "--engine spark reads extract files (--input); --omop needs --engine duckdb"
        )
    default_warehouse = (
        "warehouse/spark" if args.engine == "spark" else "warehouse/trscohort.duckdb"
    )
    options = RunOptions(
        input_dir=Path(args.input) if args.input else default_input_dir(),
        warehouse=Path(args.warehouse or default_warehouse),
        out_dir=Path(args.out),
        as_of=args.as_of,
        mapping_path=Path(args.mapping) if args.mapping else None,
        config_path=Path(args.config) if args.config else None,
        omop_path=Path(args.omop) if args.omop else None,
        omop_schema=args.omop_schema,
    )
    started = time.monotonic()
    source = f"OMOP CDM {options.omop_path}" if options.omop_path else options.input_dir
    print(f"trscohort run ({args.engine}): {source} -> {options.warehouse}")
    if args.engine == "spark":
        from trscohort.engines.spark import SparkOptions
        from trscohort.engines.spark_run import run_spark_pipeline

        spark = SparkOptions(master=args.spark_master, remote=args.spark_remote)
        warehouse = run_spark_pipeline(options, spark)
        connection = parquet.connect(warehouse)
    else:
        warehouse = run_pipeline(options)
        import duckdb

        connection = duckdb.connect(str(warehouse), read_only=True)
    with connection as con:
        print()
        print(run_summary(con))
        checks = checks_summary(con)
        if checks:
            print()
            print("\n".join(checks))
    print(f"\nwarehouse {warehouse} written in {time.monotonic() - started:.1f} s")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from trscohort.synth import generate

    if args.patients < 1:
        raise UsageError("--patients must be at least 1")
    started = time.monotonic()
    if args.mess is not None and not 0 <= args.mess <= 1:
        raise UsageError("--mess must be between 0 and 1")
    options = {} if args.mess is None else {"mess_share": args.mess}
    manifest = generate(args.patients, args.seed, Path(args.out), **options)
    counts = manifest.get("row_counts", {})
    for name, count in counts.items():
        print(f"  {name:<28}{count:>14,}")
    print(f"wrote {args.patients:,} patients to {args.out} in {time.monotonic() - started:.1f} s")
    return 0


def _vocab_suggest(args: argparse.Namespace) -> int:
    from trscohort.omop import CdmSource
    from trscohort.vocab.draft import suggest_draft

    if args.omop_schema and not args.omop:
        raise UsageError("--omop-schema needs --omop")
    draft = suggest_draft(
        Path(args.input) if args.input else default_input_dir(),
        Path(args.mapping) if args.mapping else None,
        Path(args.config) if args.config else None,
        CdmSource(Path(args.omop), args.omop_schema) if args.omop else None,
    )
    sys.stdout.write(draft)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from trscohort.api import open_warehouse

    with open_warehouse(args.warehouse) as wh:
        print(wh.explain(args.patient_id).to_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trscohort",
        description="Treatment-resistant schizophrenia and clozapine safety cohort analytics.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="load the extracts and materialise every asset")
    run.add_argument("--input", help="folder of extracts (default data/sample)")
    run.add_argument(
        "--omop",
        help="an OMOP CDM v5.4 instead of extracts: a folder of CSV/Parquet tables or a "
        ".duckdb file",
    )
    run.add_argument("--omop-schema", help="schema of the CDM inside the DuckDB file")
    run.add_argument(
        "--warehouse",
        help="DuckDB file (default warehouse/trscohort.duckdb), or with --engine spark a folder "
        "of Parquet tables <layer>/<name>/ (default warehouse/spark)",
    )
    run.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="duckdb (one machine, default) or spark (the same models on Apache Spark)",
    )
    run.add_argument(
        "--spark-master", help="Spark master URL (default local[2]; spark://host:7077, yarn, ...)"
    )
    run.add_argument("--spark-remote", help="Spark Connect server, sc://host:15002")
    run.add_argument("--out", default="out", help="folder for published outputs")
    run.add_argument("--as-of", help="analysis date YYYY-MM-DD (default: latest date in extracts)")
    run.add_argument("--mapping", help="site mapping YAML (column names, date formats)")
    run.add_argument("--config", help="YAML overriding the default thresholds")
    run.set_defaults(handler=_run)

    explain = commands.add_parser("explain", help="why a patient's status came out as it did")
    explain.add_argument("patient_id")
    explain.add_argument("--warehouse", default="warehouse/trscohort.duckdb", help="DuckDB file")
    explain.set_defaults(handler=_explain)

    synth = commands.add_parser("synth", help="write a synthetic extract set")
    synth.add_argument("--patients", type=int, default=500)
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--out", default="synthetic")
    synth.add_argument(
        "--mess",
        type=float,
        default=None,
        help="share of rows written the way real extracts do (local names, brand and pack "
        "descriptions, LOINC long names, odd units, ...); default 0.1, 0 = clean",
    )
    synth.set_defaults(handler=_synth)

    vocab = commands.add_parser("vocab", help="the site vocabulary (mapping `concepts:`)")
    vocab_commands = vocab.add_subparsers(dest="vocab_command", required=True)
    suggest = vocab_commands.add_parser(
        "suggest", help="unmapped source values with suggestions, as a commented concepts draft"
    )
    suggest.add_argument("--input", help="folder of extracts (default data/sample)")
    suggest.add_argument("--omop", help="an OMOP CDM (folder or .duckdb file) instead")
    suggest.add_argument("--omop-schema", help="schema of the CDM inside the DuckDB file")
    suggest.add_argument("--mapping", help="site mapping YAML (its concepts are applied first)")
    suggest.add_argument("--config", help="YAML overriding the defaults")
    suggest.set_defaults(handler=_vocab_suggest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
