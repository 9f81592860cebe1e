"""The README's benchmark tables, made from benchmarks/results/*.json.

    .venv/bin/python benchmarks/report.py            # print them
    .venv/bin/python benchmarks/report.py --write    # put them into README.md

tests/test_docs.py checks that README.md shows exactly what this prints, so a number in
the README is always one that a committed result file holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _where(result: dict) -> str:
    machine = result["machine"]
    return (
        f"measured {result['measured_at'][:10]} on {machine['cpu']} "
        f"({machine['cores']} cores, shared), `{result['command']}`"
    )


def ingest_table(result: dict) -> list[str]:
    lines = [
        f"**Ingest**, {_where(result)}:",
        "",
        "| engine | step | records | seconds | records/s |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['engine']} | {r['step']} | {r['records']:,} | {r['seconds']:.1f} | "
            f"{r['records_per_s']:,} |"
        )
    lines += [
        "",
        "Goal: >= 5,000 papers/s for a fresh SQLite ingest of arxiv-cs-daily. The "
        "PostgreSQL rows use the test server's settings (`fsync=off`).",
    ]
    return lines


def quality_table(result: dict) -> list[str]:
    lines = [
        f"**Search quality**, {_where(result)}:",
        "",
        "| query set | setting | nDCG@10 | recall@100 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    sets = [
        ("SciFact test (256 tokens)", "scifact_max_tokens_256"),
        ("SciFact test (128 tokens)", "scifact_max_tokens_128"),
        ("HF topic phrases", "topics"),
    ]
    for label, key in sets:
        for r in result.get(key, {}).get("rows", []):
            lines.append(
                f"| {label} | {r['setting']} | {r['ndcg@10']:.3f} | "
                f"{r['recall@100']:.3f} | {r['mrr@10']:.3f} |"
            )
    anchors = ", ".join(f"{k} {v}" for k, v in result["anchors_scifact_ndcg@10"].items())
    lines += [
        "",
        f"Published SciFact nDCG@10 anchors: {anchors}. Goals: "
        "keyword >= the textbook BM25 on both sets; on SciFact keyword >= 0.687 and hybrid "
        ">= 0.72; on the topic phrases hybrid >= 1.1x the textbook BM25; hybrid above both "
        "of its legs on both.",
    ]
    return lines


def speed_table(results: list[dict]) -> list[str]:
    if not results:
        return []
    lines = [
        f"**Search speed**, {_where(results[0])} (and `--scale 1000000`):",
        "",
        "| papers | mode | p50 ms | p95 ms | serving RSS MB | vectors | measured |",
        "|---|---|---|---|---|---|---|",
    ]
    # Each size is rerun on its own (1M takes long): every row says when it was measured.
    for result in results:
        kind = "sign codes + float16" if result["compact_vectors"] else "float32, exact"
        for r in result["rows"]:
            lines.append(
                f"| {result['papers']:,} | {r['mode']} | {r['p50_ms']} | {r['p95_ms']} "
                f"| {result['memory']['rss_mb_serving']:,} | {kind} "
                f"| {result['measured_at'][:10]} |"
            )
    embedding = results[0]["embedding"]
    lines += [
        "",
        "Embedding on the CPU (title + abstract, int8 MiniLM through onnxruntime, "
        "length-sorted batches): "
        + ", ".join(f"{v} abstracts/s at {k.split('_')[-2]} tokens" for k, v in embedding.items())
        + " (baseline: ~9/s with sentence-transformers). Goals: p50 <= 30 ms and "
        "p95 <= 100 ms at 104k; p50 <= 50 ms and < 2 GB at 1M.",
    ]
    return lines


def web_table(result: dict) -> list[str]:
    """One server's rows, or, from a run that compared two (`servers`), both side by side
    with the after/before ratio of requests answered in the same time."""
    servers = result.get("servers") or [{"server": "", "rows": result["rows"]}]
    lines = [
        f"**Web**, {_where(result)}, {result['clients']} concurrent connections from wrk on "
        f"loopback (on the same 2 cores as the server), {result['papers']} papers; "
        "anonymous pages are cached (web/page_cache.py), signed-in ones never"
        + (f" ({'; '.join(s['server'] for s in servers)})" if len(servers) > 1 else "")
        + ":",
        "",
    ]
    if len(servers) == 1:
        lines += ["| page | requests | errors | p50 ms | p95 ms |", "|---|---|---|---|---|"]
        for r in servers[0]["rows"]:
            lines.append(
                f"| `{r['page']}` | {r['requests']:,} | {r['errors']} | {r['p50_ms']} "
                f"| {r['p95_ms']} |"
            )
        return lines
    before, after = servers[0]["rows"], servers[-1]["rows"]
    lines += [
        "| page | before: requests | p50 ms | p95 ms | after: requests | errors | p50 ms "
        "| p95 ms | after / before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b, a in zip(before, after, strict=True):
        ratio = a["requests"] / b["requests"] if b["requests"] else float("nan")
        lines.append(
            f"| `{a['page']}` | {b['requests']:,} | {b['p50_ms']} | {b['p95_ms']} "
            f"| {a['requests']:,} | {a['errors']} | {a['p50_ms']} | {a['p95_ms']} | {ratio:.1f}x |"
        )
    return lines


def digest_table(result: dict) -> list[str]:
    lines = [
        f"**Digests**, {_where(result)}, real papers, digests of {result['day']} "
        f"({', '.join(result['periods'])}) to {result['smtp']}:",
        "",
        "| engine | step | subscribers | sent | nothing new | seconds | messages/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['engine']} | {r['step']} | {r['subscribers']:,} | {r['sent']:,} | "
            f"{r['nothing_new']:,} | {r['seconds']:.1f} | {r['messages_per_s']:,} | "
            f"{r['peak_rss_mb']:,} |"
        )
    lines += [
        "",
        f"Goal: {result['goal']}. The dry run composes only; the rerun finds every digest "
        "already sent. Peak RSS is the benchmark process's high-water mark so far.",
    ]
    return lines


def recommend_table(result: dict) -> list[str]:
    lines = [
        f"**For you**, {_where(result)}, {result['users']} Hugging Face submitters "
        "(the earliest 70% of their submissions liked, the rest to find among every paper "
        "featured from then on), real MiniLM embeddings:",
        "",
        "| method | recall@20 | nDCG@20 |",
        "|---|---|---|",
    ]
    for method, m in result["methods"].items():
        lines.append(f"| {method} | {m['recall@20']:.3f} | {m['ndcg@20']:.3f} |")
    methods = result["methods"]
    baseline = max(m["recall@20"] for name, m in methods.items() if name != "for_you")
    ratio = methods["for_you"]["recall@20"] / baseline
    latency = result["latency"]
    speeds = "; ".join(
        f"{r['candidates']}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms" for r in latency["rows"]
    )
    lines += [
        "",
        f"`Recommender.for_user` at {latency['papers']:,} papers (synthetic vectors): "
        f"{speeds}. For you / the better baseline: {ratio:.2f}x recall@20. Goals: >= 1.2x; "
        "p95 <= 100 ms at 104k. Methods tried: [docs/recommend.md](docs/recommend.md).",
    ]
    return lines


def update_table(result: dict) -> list[str]:
    lines = [
        f"**Daily update**, {_where(result)}, one day's job (`run_update`) against loopback "
        f"arXiv OAI-PMH and Hugging Face answers made from the real data of {result['day']}, "
        f"{result['subscribers']} subscribers:",
        "",
        "| engine | phase | what | seconds | CPU seconds |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['engine']} | {r['phase']} | {r['what']} | {r['seconds']:.1f} | "
            f"{r['cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        f"Goal: the whole job under {result['goal_s']} s. Seconds are wall time with the "
        f"machine's load average at {result['load_average']:.1f} (other jobs on its two "
        "cores); CPU seconds are this process's, all threads. Nearly all of it is "
        "embedding the new papers.",
    ]
    return lines


def map_table(result: dict) -> list[str]:
    lines = [
        f"**Map of papers**, {_where(result)}, load average {result['load_average']:.1f}:",
        "",
        "| layout method | papers | seconds | kNN@10 kept |",
        "|---|---|---|---|",
    ]
    for r in result.get("methods", []):
        lines.append(
            f"| {r['method']} | {r['sample']:,} real | {r['sample_seconds']:.1f} | "
            f"{r['knn10_preserved']:.3f} |"
        )
        if "larger" in r:
            lines.append(f"| {r['method']} | {r['larger']:,} | {r['larger_seconds']:.1f} | |")
    layout, placing, chromium = result["layout"], result["placing"], result["chromium"]
    lines += [
        f"| the job (`build_map`, openTSNE) | {layout['points']:,} | {layout['seconds']:.0f} | |",
        "",
        f"New papers placed beside their neighbours: {placing['papers']} in "
        f"{placing['seconds']:.2f} s. `/map` in Chromium (1280 px, median of 3 loads): "
        f"{chromium['total_bytes'] / 1e6:.2f} MB transferred ({chromium['json_requests']} "
        f"pages of points, {chromium['json_decoded_bytes'] / 1e6:.1f} MB before gzip), "
        f"first points drawn at {chromium['first_render_ms']:,} ms, all "
        f"{chromium['points']:,} at {chromium['complete_ms']:,} ms. Goal: usable at 100k "
        "papers (docs/map.md).",
    ]
    return lines


def report() -> str:
    parts = []
    if ingest := _load("ingest.json"):
        parts.append(ingest_table(ingest))
    if quality := _load("search_quality.json"):
        parts.append(quality_table(quality))
    speeds = [
        r for r in (_load("search_speed_104235.json"), _load("search_speed_1000000.json")) if r
    ]
    if speeds:
        parts.append(speed_table(speeds))
    if web := _load("web.json"):
        parts.append(web_table(web))
    if digest := _load("digest.json"):
        parts.append(digest_table(digest))
    if recommend := _load("recommend.json"):
        parts.append(recommend_table(recommend))
    if update := _load("update.json"):
        parts.append(update_table(update))
    if paper_map := _load("map.json"):
        parts.append(map_table(paper_map))
    return "\n\n".join("\n".join(p) for p in parts)


def readme_block() -> str:
    return f"{START}\n{report()}\n{END}"


def main() -> None:
    if "--write" in sys.argv:
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = text.index(START), text.index(END) + len(END)
        readme.write_text(text[:start] + readme_block() + text[end:])
    else:
        print(report())


if __name__ == "__main__":
    main()
