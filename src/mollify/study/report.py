"""`mollify report DIR`: one self-contained report.html (figures embedded) and a report.md.

The report reads whatever the instruments left under DIR: landscapes (`landscape.nc` +
`summary.json`), roughness (`roughness.json`), theory checks (`heat.json`, `backward.json`,
`uncertainty.json`) and sweeps (`summary.csv` + `stats.json` + `runs/`). Every number in the
closing table carries the command that regenerates it (recorded by the command itself).
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mollify.study import claims as claims_lib
from mollify.study import figures
from mollify.util.io import atomic_write_text


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)


@dataclass
class Number:
    name: str
    value: str
    command: str


def _fmt(x, digits=4) -> str:
    if x is None:
        return "—"
    if isinstance(x, float | np.floating):
        if math.isnan(x):
            return "—"
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def build(root: str | Path) -> tuple[Path, Path]:
    """Write report.html and report.md into `root`; returns their paths."""
    root = Path(root)
    if not root.exists():
        raise ValueError(f"directory: not found: {str(root)!r}")
    if not root.is_dir():
        raise ValueError(f"directory: {str(root)!r} is not a directory")
    assets = root / "report_files"  # created by the first figure written into it
    sections: list[Section] = []
    numbers: list[Number] = []
    claim_rows = claims_lib.rows(root)
    sections += _claims_sections(claim_rows, root)
    sections += _landscape_sections(root, numbers)
    sections += _roughness_sections(root, numbers)
    sections += _theory_sections(root, numbers)
    sections += _sweep_sections(root, assets, numbers)
    sections += _advisor_sections(root, numbers)
    sections += _timing_sections(root)
    if not sections:
        raise ValueError(
            f"directory: {str(root)!r} holds no mollify results (landscape, theory, sweep)"
        )
    if claim_rows:
        atomic_write_text(root / "claims.md", claims_lib.markdown(claim_rows))
    md = _markdown(root, sections, numbers)
    page = _html(sections, numbers)
    return (
        atomic_write_text(root / "report.html", page),
        atomic_write_text(root / "report.md", md),
    )


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _claims_sections(rows: list, root: Path) -> list[Section]:
    """The paper's claims against this directory's numbers, first (also written to claims.md):
    the tests, then the checks of the implementation, never mixed."""
    if not rows:
        return []
    sec = Section("The paper's claims, measured")
    sec.paragraphs.append(
        "Each claim of Wang, Herbert, Gao (ICML 2024), and the Hölder bound of its predecessor, "
        "against the numbers below (95 % CIs in brackets). Tests could have come out otherwise "
        "on these data; the rule that decides each verdict is stated in "
        "mollify/study/verdicts/. Contradictions stay in the table."
    )
    prov = root / "provenance.json"
    if prov.exists():
        info = _load_json(prov)
        ran = info.get("commit") or info.get("why_no_commit", "unknown code")
        dirty = " with uncommitted changes" if info.get("uncommitted_changes") else ""
        sec.paragraphs.append(
            f"Pre-registration: this study ran at commit {ran}{dirty}, started "
            f"{info.get('started', '?')}"
            + "".join(
                f" (resuming a run at {e.get('commit') or '?'}, started {e.get('started', '?')}, "
                "whose finished sweep seeds were kept)"
                for e in info.get("earlier_runs", [])
            )
            + "; each rule's history (what data it had seen, what "
            "changed after which run) is mollify.study.verdicts.REGISTER."
        )
    tests = [r.cells() for r in rows if r.kind == claims_lib.TEST]
    checks = [r.cells() for r in rows if r.kind == claims_lib.CHECK]
    sec.tables.append((claims_lib.HEADER, tests))
    out = [sec]
    if checks:
        chk = Section("Checks of the implementation")
        chk.paragraphs.append(
            "Identities: they hold by construction when the code is right, so they test the "
            "code, not the paper's claims, and are never counted as a claim holding."
        )
        chk.tables.append((claims_lib.CHECK_HEADER, checks))
        out.append(chk)
    return out


def _landscape_sections(root: Path, numbers: list[Number]) -> list[Section]:
    out = []
    for summary_path in sorted(root.rglob("landscape.nc")):
        folder = summary_path.parent
        summary = _load_json(folder / "summary.json")
        cmd = summary.get("command") or "mollify landscape"
        sec = Section(f"Landscape: {summary['task']} ({summary['mode']}-space mollification)")
        sec.paragraphs.append(
            "J along a random filter-normalised slice through θ0, raw (σ = 0) and mollified. "
            "Hölder α from the grid's structure function (α < 1: rough at the grid's scales); "
            "spectral slope of log(P_σ/P_0) against ξ² next to −σ² (exact law for parameter-space "
            f"smoothing in slice units). Computed in {summary['seconds']:.1f} s."
        )
        rows = []
        slopes = summary.get("spectral_slope", {})
        alpha_notes = summary.get("grid_holder_note", {})
        slope_notes = summary.get("spectral_note", {})
        for s, alpha in summary["grid_holder_alpha"].items():
            slope = slopes.get(s)
            a = _fmt(alpha, 3) if alpha is not None else "no value (below)"
            b = _fmt(slope) if slope is not None or s not in slope_notes else "no value (below)"
            rows.append([s, a, b, _fmt(-(float(s) ** 2))])
            numbers.append(Number(f"{summary['task']} landscape α(σ={s})", a, cmd))
        sec.tables.append((["σ", "grid Hölder α", "spectral slope", "−σ²"], rows))
        for s, note in alpha_notes.items():
            sec.paragraphs.append(f"Grid Hölder α at σ = {s}: {note}.")
        for s, note in slope_notes.items():
            sec.paragraphs.append(f"Spectral slope at σ = {s}: {note}.")
        sec.images.append((folder / "landscape.png", "landscape per σ"))
        if (folder / "spectra.png").exists():
            sec.images.append((folder / "spectra.png", "power spectra and log-ratio fits"))
        out.append(sec)
    return out


def _roughness_sections(root: Path, numbers: list[Number]) -> list[Section]:
    out = []
    for path in sorted(root.rglob("roughness.json")):
        r = _load_json(path)
        cmd = r.get("command") or "mollify roughness"
        sec = Section(f"Roughness: {r['task']} ({r.get('start', 'random')} start)")
        rows = []
        for s, h in r["holder"].items():
            if h.get("note"):
                rows.append([s, "no value", h["note"], "", ""])
                continue
            ci = f"[{_fmt(h['ci_low'], 3)}, {_fmt(h['ci_high'], 3)}]"
            cross = h.get("crossover_text", "—")
            floor = h.get("noise_floor_rms")
            rows.append([s, _fmt(h["alpha"], 3), ci, cross, _fmt(floor, 3)])
            numbers.append(Number(f"{r['task']} Hölder α of J_σ (σ={s})", _fmt(h["alpha"], 3), cmd))
        head = ["σ", "Hölder α (smallest resolved scales)", "95% CI", "δ* / ‖θ‖ [95% CI]"]
        sec.tables.append(([*head, "noise floor (RMS of one increment)"], rows))
        lam = r.get("lyapunov")
        sec.paragraphs.append(
            "Monte-Carlo noise removed from the squared increments (paired episodes); α is fitted "
            "on the smallest radii resolved above that noise; below δ* J_σ is smooth (local "
            "exponent ≥ 0.8), above it rough."
        )
        radii = f"Radii {_fmt(r['radii'][0], 2)}–{_fmt(r['radii'][-1], 2)} around θ. "
        if lam is None or not math.isfinite(lam):
            why = r.get("lyapunov_error", "no start counted a step")
            sec.paragraphs.append(radii + f"Lyapunov exponent unavailable: {why}.")
        else:
            regime = (
                "non-trivial: λ > −log γ"
                if r.get("predicted_nontrivial")
                else "λ ≤ −log γ: J Lipschitz"
            )
            sec.paragraphs.append(
                radii + f"Lyapunov exponent λ = {_fmt(lam)} per step, −log γ = "
                f"{_fmt(-math.log(r['gamma']))}; predicted Hölder exponent −log γ/λ = "
                f"{_fmt(r.get('predicted_holder'))} ({regime})."
            )
        numbers.append(Number(f"{r['task']} Lyapunov λ", _fmt(lam), cmd))
        out.append(sec)
    return out


def _theory_sections(root: Path, numbers: list[Number]) -> list[Section]:
    out = []
    for path in sorted(root.rglob("heat.json")):
        h = _load_json(path)
        cmd = h.get("command") or "mollify theory heat"
        sec = Section(f"Heat equation: {h['task']}")
        sec.paragraphs.append(
            f"u(μ, t) = E Q(s, μ + √t ε) on t = σ² ∈ [{_fmt(h['t_range'][0])}, {_fmt(h['t_range'][1])}]: "
            f"max |u_t − ½u_μμ| = {_fmt(h['max_abs_residual'])} against max |u_t| = "
            f"{_fmt(h['max_abs_u_t'])} (ratio {_fmt(h['residual_over_u_t'])}; median pointwise "
            f"{_fmt(h['median_relative_residual'])})."
        )
        rows = [
            [
                _fmt(m["t"]),
                _fmt(m["u_table"], 8),
                f"{_fmt(m['u_monte_carlo'], 8)} ± {_fmt(m['mc_stderr'], 2)}",
            ]
            for m in h["monte_carlo_check"]
        ]
        sec.tables.append((["t", "u from the Q table", "direct rollouts (± SE)"], rows))
        sec.images.append((path.parent / "heat.png", "Q(s, ·) and u(μ, t)"))
        numbers.append(
            Number(f"{h['task']} heat residual / |u_t|", _fmt(h["residual_over_u_t"]), cmd)
        )
        out.append(sec)
    for path in sorted(root.rglob("backward.json")):
        b = _load_json(path)
        cmd = b.get("command") or "mollify theory backward"
        sec = Section(f"Backward heat: {b['task']}")
        sec.paragraphs.append(
            f"From T = {_fmt(b['T'])} with a perturbation of relative size {_fmt(b['delta'])}: "
            f"{b['n_valid_frequencies']} frequencies above the floating-point floor, measured "
            f"amplification matches e^(Tξ²/2) to {_fmt(b['max_rel_error_valid'])} (largest "
            f"{_fmt(b['max_predicted_valid'])}); above ξ_c = {_fmt(b['cutoff_xi'])} the amplified "
            f"perturbation exceeds Q's own spectrum; recovered profile error "
            f"{_fmt(b['recovered_relative_error'])}."
        )
        sec.images.append((path.parent / "backward.png", "amplification per frequency"))
        numbers.append(
            Number(f"{b['task']} backward-heat max rel. error", _fmt(b["max_rel_error_valid"]), cmd)
        )
        numbers.append(Number(f"{b['task']} backward-heat cut-off ξ_c", _fmt(b["cutoff_xi"]), cmd))
        out.append(sec)
    for path in sorted(root.rglob("uncertainty.json")):
        u = _load_json(path)
        cmd = u.get("command") or "mollify theory uncertainty"
        sec = Section(f"Uncertainty principle: {u['task']}")
        sec.paragraphs.append(
            f"J(θ*) = {_fmt(u['J_star'])}, background {_fmt(u['J_background'])}; width of the good "
            f"region w = {_fmt(u['width_w'])} (quartiles {_fmt(u['width_quartiles'][0])}–"
            f"{_fmt(u['width_quartiles'][1])}); optimum "
            f"{_erased(u, 'erasure_sigma_param', 'parameter')}; "
            f"{_erased(u, 'erasure_sigma_action', 'action')}. Gaussian kernel Δx·Δξ = "
            f"{_fmt(u['heisenberg'][0]['product'], 6)} (bound {u['heisenberg'][0]['bound']})."
        )
        sec.images.append((path.parent / "uncertainty.png", "radial profiles and mollified J(θ*)"))
        numbers.append(Number(f"{u['task']} good-region width w", _fmt(u["width_w"]), cmd))
        numbers.append(
            Number(f"{u['task']} erasure σ (parameter)", _fmt(u["erasure_sigma_param"]), cmd)
        )
        out.append(sec)
    return out


def _timing_sections(root: Path) -> list[Section]:
    """`mollify reproduce`'s steps and their wall time (timings.json), the report itself left out."""
    path = root / "timings.json"
    if not path.exists():
        return []
    steps = _load_json(path)
    total = sum(s["seconds"] for s in steps)
    sec = Section("Where the time went")
    sec.paragraphs.append(f"{len(steps)} steps, {total / 60:.1f} minutes before the report.")
    rows = [[s["step"], f"{s['seconds']:.0f}"] for s in steps]
    sec.tables.append((["step", "wall seconds"], rows))
    return [sec]


def _cells_section(task: str, folder: Path, rows: list[dict]) -> Section:
    """Final returns per (algorithm, σ mode, σ): mean and 95 % t-interval over seeds."""
    from mollify.study import stats
    from mollify.training.config import LEARNED_MODES

    sec = Section(f"Final return per σ mode: {task} ({folder.name})")
    table = []
    for (algo, mode, sigma), members in stats.group(rows, ("algo", "sigma_mode", "sigma")).items():
        det = stats.mean_ci([r["final_deterministic"] for r in members])
        sto = np.mean([r["final_stochastic"] for r in members])
        ci = f"[{_fmt(det[1])}, {_fmt(det[2])}]" if len(members) > 1 else "(one seed)"
        start = "σ start" if mode in LEARNED_MODES else "σ"
        table.append([algo, mode, f"{start} {sigma:g}", _fmt(det[0]), ci, _fmt(sto), len(members)])
    head = ["algorithm", "σ mode", "σ", "deterministic", "95% CI", "stochastic", "seeds"]
    sec.tables.append((head, table))
    return sec


def _erased(u: dict, name: str, space: str) -> str:
    """Where the uncertainty check saw the optimum erased, or why it did not."""
    if u.get(name) is None:
        why = u.get("erasure_notes", {}).get(name, "no crossing measured")
        return f"not erased in {space} space: {why}"
    ratio = f" (σ/w = {_fmt(u['erasure_over_width'])})" if space == "parameter" else ""
    return f"erased at {space} σ ≈ {_fmt(u[name])}{ratio}"


def _sweep_sections(root: Path, assets: Path, numbers: list[Number]) -> list[Section]:
    from mollify.study import sweep as sweep_lib

    out = []
    for summary in sorted(root.rglob("summary.csv")):
        folder = summary.parent
        if not (folder / "stats.json").exists():
            continue
        rows = sweep_lib.read_summary(summary)
        stats = _load_json(folder / "stats.json")
        spec = _load_json(folder / "sweep.json") if (folder / "sweep.json").exists() else {}
        cmd = spec.get("command") or f"mollify sweep --out {folder} (sweep.json holds the grid)"
        tag = folder.relative_to(root).as_posix().replace("/", "_") or "sweep"
        for task in sorted({r["task"] for r in rows}):
            entries = {k: v for k, v in stats.items() if v["task"] == task}
            if not entries:  # one σ per σ mode: no curve, a table of the cells
                out.append(_cells_section(task, folder, [r for r in rows if r["task"] == task]))
                continue
            sec = Section(f"Return against σ: {task} ({folder.name})")
            png = assets / f"{tag}_{task}_sigma.png"
            figures.sigma_curves(entries, task, png)
            sec.images.append((png, "final return against σ, mean and 95% t-interval over seeds"))
            for name, entry in entries.items():
                for kind in ("deterministic", "stochastic"):
                    c = entry[kind]
                    best = next(p for p in c["points"] if p["sigma"] == c["best_sigma"])
                    tied = ", ".join(f"{s:g}" for s in c["indistinguishable_from_best"]) or "none"
                    sec.paragraphs.append(
                        f"{name}, {kind}: best σ = {c['best_sigma']:g} "
                        f"({_fmt(best['mean'])}, CI [{_fmt(best['ci_low'])}, {_fmt(best['ci_high'])}], "
                        f"{best['n']} seeds); not distinguishable: {tied}; inverted U: "
                        f"{c.get('u_verdict', 'holds' if c['inverted_u'] else 'inconclusive')}"
                        + (f" ({c['u_reason']})" if c.get("u_reason") else "")
                        + "."
                    )
                    numbers.append(
                        Number(
                            f"{name} best σ ({kind})",
                            f"{c['best_sigma']:g} ({_fmt(best['mean'])})",
                            cmd,
                        )
                    )
            curves = assets / f"{tag}_{task}_curves.png"
            if figures.learning_curves_by_sigma(folder / "runs" / task, task, curves):
                sec.images.append(
                    (curves, "deterministic evaluation during training, mean over seeds")
                )
            out.append(sec)
    return out


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}figure{margin:1em 0}
figcaption{font-size:.85em;color:#555}code{font-size:.85em;background:#f6f6f6;padding:0 .2em}
"""


def _advisor_sections(root: Path, numbers: list[Number]) -> list[Section]:
    from mollify.study import advisor_validation as validation

    out = []
    for path in sorted(root.rglob("validation.json")):
        doc = _load_json(path)
        rows = doc["rows"]
        cmd = doc.get("command") or "mollify reproduce"
        sec = Section("The σ advisor against the PPO σ sweep")
        sec.paragraphs.append(
            "Each row: `mollify advise` for the sweep's training budget (a PPO pilot with a "
            "learned σ, then three probes), against the best σ of PPO at fixed σ (6 σ or fewer, "
            "seeds per σ as in the sweep) and the σ not distinguishable from it. A σ is in the "
            "set when the grid σ nearest to it (log scale) is. " + validation.summary_sentence(rows)
        )
        sec.tables.append((validation.HEADER, validation.table(rows)))
        for r in rows:
            sec.paragraphs.append(f"{r['row']}: {r['advice']['rule']}.")
            label = r["task"] + "".join(f" {k}={v:g}" for k, v in r["params"].items())
            rerun = r.get("command") or cmd
            numbers.append(Number(f"{label}: advised σ", _fmt(r["advice"]["sigma"], 3), rerun))
        out.append(sec)
    return out


def _table_html(header, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(sections: list[Section], numbers: list[Number]) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>mollify report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mollify report</h1>",
        "<p>How exploration noise mollifies the policy landscape (Wang, Herbert, Gao, ICML 2024), "
        "measured. Every figure is embedded; the last table lists each number with the command "
        "that regenerates it.</p>",
    ]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        parts += [_table_html(h, r) for h, r in sec.tables]
        for png, caption in sec.images:
            if png.exists():
                data = base64.b64encode(png.read_bytes()).decode()
                parts.append(
                    f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    parts.append("<h2>Every number and the command that regenerates it</h2>")
    parts.append(
        _table_html(
            ["quantity", "value", "command"], [[n.name, n.value, n.command] for n in numbers]
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown(root: Path, sections: list[Section], numbers: list[Number]) -> str:
    lines = ["# mollify report", ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            lines += [p, ""]
        for header, rows in sec.tables:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(claims_lib.cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        for png, caption in sec.images:
            if png.exists():
                lines += [f"![{caption}]({png.relative_to(root).as_posix()})", ""]
    lines += ["## Every number and the command that regenerates it", ""]
    lines += ["| quantity | value | command |", "|---|---|---|"]
    lines += [f"| {n.name} | {n.value} | `{n.command}` |" for n in numbers]
    return "\n".join(lines) + "\n"
