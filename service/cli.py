"""The ``summarizer`` command: serve the API, or summarise an article from a file or stdin."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from service.backends import backend_plan
from service.errors import InferenceServerError, ModelNotFoundError
from service.schemas import SummaryRequest
from service.settings import Settings, load_settings


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model to run (default: $SUMMARIZER_MODEL or the embedded SmolLM2)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to run the model")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="summarizer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    add_model_options(serve)

    summarize = commands.add_parser("summarize", help="summarise one article and print the Summary JSON")
    summarize.add_argument("file", help="article as plain text, or a .json SummaryRequest; '-' reads stdin")
    summarize.add_argument("--title", help="the article's headline")
    summarize.add_argument("--published-at", help="publication date, ISO 8601")
    add_model_options(summarize)

    batch = commands.add_parser("batch", help="summarise a JSONL of articles into a JSONL of results, resumably")
    batch.add_argument("input", type=Path, help="JSONL rows with text, and optionally id, title, published_at")
    batch.add_argument("output", type=Path, help="results are appended here; rerun to resume after a crash")
    add_model_options(batch)

    bench = commands.add_parser("bench", help="speed and memory, with the naive baseline in the same run")
    bench.add_argument("--articles", type=Path, action="append", help="JSONL of articles (repeatable; default: the shared BBC sample and dev gold files)")
    bench.add_argument("--n", type=int, default=20, help="articles per file")
    bench.add_argument("--naive", type=int, default=5, help="articles for the naive baseline (slow); 0 skips it")
    bench.add_argument("--concurrency", type=int, default=8, help="clients for the concurrent throughput figure; 1 skips it")
    add_model_options(bench)

    evaluate = commands.add_parser("eval", help="score the pipeline on Giveme5W1H-style gold files")
    evaluate.add_argument("gold", type=Path, nargs="+", help="gold JSONL files (title, description, text, date_publish, gold)")
    evaluate.add_argument("--out", type=Path, help="write predictions here (the format score5w.py reads; one gold file only)")
    evaluate.add_argument("--limit", type=int, help="only the first N articles of each file")
    evaluate.add_argument("--baseline", choices=["ner"], help="also score the NER baseline (spaCy entities, the headline as what) in the same table")
    evaluate.add_argument("--calibration", type=Path, metavar="PLOT.png", help="write a reliability diagram of the answers' confidence (needs matplotlib) and print the calibration error")
    evaluate.add_argument("--min-confidence", type=float, help="leave out answers below this confidence (default: $SUMMARIZER_MIN_CONFIDENCE, else the fitted default)")
    add_model_options(evaluate)

    dates = commands.add_parser("eval-dates", help="score the date resolver on a temporal benchmark (no model)")
    dates.add_argument("file", type=Path, help="JSONL rows with doc, dct, expression, value, sentence")
    dates.add_argument("--half", choices=["A", "B"], help="only one half of a fixed split by document")
    dates.add_argument(
        "--split-salt", default="", help="hash SALT+doc id instead of the doc id: another split into halves A and B"
    )
    dates.add_argument("--misses", action="store_true", help="print the rows resolved wrongly")

    fit = commands.add_parser("fit-ranker", help="fit the ranker on labelled gold files, every setting chosen by cross-validation")
    fit.add_argument("gold", type=Path, nargs="+", help="gold JSONL files; each weighs the same in the cross-validated F1")
    fit.add_argument("--out", type=Path, required=True, help="where to write the fitted ranker (the shipped one is service/ranker.json)")
    fit.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    fit.add_argument("--repeats", type=int, default=5, help="shuffles of the folds; settings are chosen by the mean over all of them")
    fit.add_argument("--calibration", type=Path, metavar="PLOT.png", help="also write the reliability diagram of the cross-validated confidences (needs matplotlib)")
    add_model_options(fit)
    return parser


def read_article(args: argparse.Namespace) -> SummaryRequest:
    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    if args.file.endswith(".json"):
        request = SummaryRequest.model_validate_json(raw)
    else:
        request = SummaryRequest(text=raw)
    updates = {"title": args.title, "published_at": args.published_at}
    return SummaryRequest.model_validate(request.model_dump() | {k: v for k, v in updates.items() if v})


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(json_lines: bool) -> None:
    """JSON log lines for the server (one object per line, for log shippers); plain text else."""
    handler = logging.StreamHandler()
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(LOG_FORMAT, rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per outgoing HTTP call (bench, eval against a server) drowns the command's own output.
    for name in ("httpx", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve(settings: Settings) -> None:
    import uvicorn

    from service.api.app import create_app

    # The app writes its own access log (with request ids); uvicorn's would duplicate it.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


def summarize(settings: Settings, args: argparse.Namespace) -> None:
    from service.summarizer import Summarizer

    request = read_article(args)
    summary = Summarizer.load(settings).summarize(request)
    print(summary.model_dump_json(indent=2))


def batch(settings: Settings, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from service.summarizer import Summarizer
    from service.tools.batch import input_rows, run_batch

    rows = list(input_rows(args.input))
    summarizer = Summarizer.load(settings)
    written, skipped = run_batch(tqdm(rows, desc="articles", unit="article"), args.output, summarizer.summarize)
    print(f"{written} summarised, {skipped} already done, {len(rows)} in {args.input}", file=sys.stderr)


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench(settings: Settings, args: argparse.Namespace) -> None:
    from service.summarizer import Summarizer
    from service.tools import bench as benchmark
    from service.tools.evaluation import read_rows

    files = args.articles or [SHARED_DATA / "bbc-sample.jsonl", SHARED_DATA / "giveme5w1h-dev.jsonl"]
    requests = [request for path in files for request in benchmark.requests_from(read_rows(path)[: args.n])]
    summarizer = Summarizer.load(settings)
    for line in benchmark.report(summarizer, requests, args.naive, args.concurrency):
        print(line, flush=True)


def evaluate(settings: Settings, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from service.summarizer import Summarizer
    from service.tools import evaluation

    if args.out and len(args.gold) > 1:
        raise ValueError("--out takes the predictions of one gold file; give one")
    summarizer = Summarizer.load(settings)
    results: dict[str, dict[str, dict]] = {}
    points: dict[str, list] = {name: [] for name in evaluation.FIELDS}
    for path in args.gold:
        rows = evaluation.read_rows(path)[: args.limit]
        outcome = evaluation.run(tqdm(rows, desc=path.stem, unit="article"), summarizer.summarize)
        for name, values in evaluation.confidence_points(rows, outcome.predictions, outcome.confidences).items():
            points[name] += values
        if args.out:
            evaluation.write_predictions(args.out, outcome)
        for failure in outcome.failed:
            print(f"failed: {failure}", file=sys.stderr)
        results[path.stem] = {summarizer.model_name: evaluation.report(rows, outcome)}
        if args.baseline:
            baseline = evaluation.run(rows, evaluation.ner_baseline)
            results[path.stem]["baseline (ner)"] = evaluation.report(rows, baseline)
    if args.calibration:
        title = f"{summarizer.model_name}, min_confidence {summarizer.min_confidence:g}: " + ", ".join(results)
        evaluation.reliability_diagram(points, args.calibration, title)
        print(f"reliability diagram: {args.calibration}; expected calibration error (10 bins), all files: "
              + json.dumps({name: evaluation.expected_calibration_error(values) for name, values in points.items()}), file=sys.stderr)
    if len(results) > 1 or args.baseline:
        for line in evaluation.table(results):
            print(line)
        print()
        for line in evaluation.answering_table(results):
            print(line)
        print(json.dumps(results))
    else:
        print(json.dumps({"model": summarizer.model_name} | results[args.gold[0].stem][summarizer.model_name]))


def fit_ranker(settings: Settings, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from service.backends.local.backend import LocalBackend
    from service.summarizer import Summarizer
    from service.tools import evaluation
    from service.tools import fit_ranker as fitting

    backend = Summarizer.load(settings).backend
    if not isinstance(backend, LocalBackend):
        raise ValueError("fit-ranker scores candidates with the local model: use the local backend")
    examples = fitting.examples_from(args.gold, backend.decide, lambda rows: tqdm(rows, unit="article"))
    fitted = fitting.fit(examples, args.folds, args.repeats)
    fitting.write(args.out, fitted)
    cross_validated = fitted["cross_validation"]["f1"]
    files = list(cross_validated["mean"])
    by_split = fitted["cross_validation"]["f1_by_split"]
    results = {
        name: {"ranker (cross-validated, mean of the splits)": {field: cross_validated[field][name] for field in cross_validated}}
        | {
            f"ranker (split {repeat})": {field: by_split[field][name][repeat] for field in by_split}
            for repeat in range(args.repeats)
        }
        for name in files
    }
    for line in evaluation.table(results):
        print(line)
    print(json.dumps({field: entry["setting"] for field, entry in fitted["fields"].items()}))
    print(json.dumps({"features_only (the openai backend's ranker), cross-validated": fitted["features_only"]["cross_validation"]["f1"]}))
    print(json.dumps({"min_confidence": fitted["min_confidence"]} | {key: fitted["cross_validation"][key] for key in ("calibration", "min_confidence")}))
    if args.calibration:
        points = {field: [(value, bool(right)) for value, right, _ in rows] for field, rows in fitted["held_out"].items()}
        evaluation.reliability_diagram(points, args.calibration, f"cross-validated confidence, {', '.join(files)}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "eval-dates":  # the resolver alone: no settings, no model
        from service.tools import date_eval

        try:
            date_eval.main(args.file, args.half, args.misses, args.split_salt)
        except (OSError, ValueError, KeyError) as error:
            print(f"summarizer: {error!r}", file=sys.stderr)
            return 1
        return 0
    configure_logging(json_lines=args.command == "serve")
    options = {key: value for key, value in vars(args).items() if key in Settings.model_fields}
    try:
        settings = load_settings(**options)
        backend_plan(settings).check()  # a missing model is a start-up error, before anything loads
        if args.command == "serve":
            serve(settings)
        elif args.command == "eval":
            evaluate(settings, args)
        elif args.command == "batch":
            batch(settings, args)
        elif args.command == "bench":
            bench(settings, args)
        elif args.command == "fit-ranker":
            fit_ranker(settings, args)
        else:
            summarize(settings, args)
    except ModelNotFoundError as error:
        print(f"summarizer: {error}", file=sys.stderr)
        return 2
    except InferenceServerError as error:  # backend 'openai': what is done so far is kept (batch resumes)
        print(f"summarizer: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"summarizer: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
