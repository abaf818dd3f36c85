"""The benchmark's outputs: results.json, results.csv, report.md and the figures.

Everything here reads the results dict of :func:`~MIDeepSegLib.evaluation.benchmark.run_benchmark`.
"""

import csv
import json
from pathlib import Path

import numpy as np

from ..core.cuemap import ENCODINGS
from . import plots
from .peers import PEER_LABELS, PEERS
from .user import click_label

#: Display names of the methods (peers' come from :data:`MIDeepSegLib.evaluation.peers.PEER_LABELS`).
METHOD_LABELS = {
    "mideepseg": "MIDeepSeg (IF-GC)",
    "mideepseg_gc": "MIDeepSeg CNN + GC",
    "mideepseg_ifgc_paper": "MIDeepSeg CNN + IF-GC without reach (paper)",
    "standin_ifgc": "stand-in + IF-GC",
    "standin_gc": "stand-in + GC",
    "standin_ifgc_paper": "stand-in + IF-GC without reach (paper)",
}

#: Suffixes of the Table 3 rows that replay IF-GC's clicks instead of placing their own.
REPLAY_SUFFIXES = ("_gc", "_ifgc_paper")

def method_label(name):
    """Display name of a method."""
    return METHOD_LABELS.get(name) or PEER_LABELS.get(name, name)


def write_outputs(results, out_dir, *, views=None):
    """Write results.json, results.csv, report.md and the PNG figures to `out_dir`; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.csv", out / "report.md"]
    (out / "results.json").write_text(json.dumps(_json_ready(results), indent=1, allow_nan=False))
    _write_csv(results, out / "results.csv")
    try:
        import matplotlib  # noqa: F401  (figures only; the results do not need it)
    except ImportError:
        figures, missing = {}, ("\nNo figures: matplotlib is not installed "
                                "(pip install 'MIDeepSegLib[benchmark]').\n")
    else:
        figures, missing = write_figures(results, out, views=views), ""
    (out / "report.md").write_text(markdown_report(results, figures) + missing)
    return written + [out / f for f in sorted(set(f for d in figures.values() for f in d.values()))]


def _json_ready(value):
    """Replace NaN / inf by None (strict JSON) and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _write_csv(results, path):
    with open(str(path), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dim", "case", "group", "method", "clicks", "dice", "assd_mm", "seconds",
                         "click_kind", "click_position"])
        for record in results["cases"]:
            for name, run in record["methods"].items():
                for k, value in enumerate(run["dice"]):
                    click = run["clicks"][k - 1] if 0 < k <= len(run["clicks"]) else None
                    writer.writerow([record["dim"], record["case"], record["group"], name, k, value,
                                     "" if run["assd"][k] is None else run["assd"][k],
                                     run["seconds"][k] if k < len(run["seconds"]) else "",
                                     "" if click is None else ("foreground" if click[1] else "background"),
                                     "" if click is None else " ".join("{:g}".format(c) for c in click[0])])
            for name, run in record["encodings"].items():
                writer.writerow([record["dim"], record["case"], record["group"], "encoding:" + name, 0,
                                 run["dice"], "" if run["assd"] is None else run["assd"],
                                 run["total_seconds"], "", ""])


def _interactive(methods):
    """Methods that place their own clicks (Table 4 / the plots): everything but the Table 3 replays."""
    return [m for m in methods if not m.endswith(REPLAY_SUFFIXES)]


def write_figures(results, out_dir, *, views=None):
    """Dice-vs-clicks plot, clicks-needed histogram and overlay grid per dimension (matplotlib).

    Returns
    -------
    dict ``{dim: {kind: file name}}`` (dim as a string, "2" / "3").
    """
    out = Path(out_dir)
    figures = {}
    k_max = results["settings"]["max_clicks"]
    for dim, entry in results["summary"].items():
        methods = entry["methods"]
        names = _interactive(methods)
        if not names:
            continue
        files = {}
        lowest = min(min(methods[n]["dice"]) for n in names)
        files["dice_vs_clicks"] = "dice_vs_clicks_{}d.png".format(dim)
        plots.line_chart(out / files["dice_vs_clicks"], [(method_label(n), methods[n]["dice"]) for n in names],
                         list(range(k_max + 1)),
                         title="{}D: mean Dice vs refinement clicks ({} cases)".format(dim, methods[names[0]]["cases"]),
                         x_label="refinement clicks", y_label="Dice",
                         y_range=(max(0.0, np.floor(lowest * 10) / 10), 1.0))

        categories = [str(k) for k in range(k_max + 1)] + [">{}".format(k_max)]
        series = []
        for name in names:
            counts = np.zeros(len(categories))
            for record in results["cases"]:
                if str(record["dim"]) == dim and name in record["methods"]:
                    n = record["methods"][name]["noc90"]
                    counts[k_max + 1 if n is None else n] += 1
            series.append((method_label(name), counts))
        files["clicks_needed"] = "clicks_needed_{}d.png".format(dim)
        plots.bar_chart(out / files["clicks_needed"], categories, series,
                        title="{}D: refinement clicks to reach Dice 0.90".format(dim), x_label="refinement clicks",
                        y_label="cases")

        if views:
            chosen = [(c, v) for c, v in views if str(c.image.ndim) == dim]
            if chosen:
                files["overlays"] = "overlays_{}d.png".format(dim)
                plots.overlay_grid(out / files["overlays"], overlay_rows(chosen, names, results, int(dim)),
                                   [method_label(n) for n in names])
        figures[dim] = files
    return figures


def overlay_rows(chosen, names, results, dim, *, max_rows=6):
    """The rows of :func:`~MIDeepSegLib.evaluation.plots.overlay_grid`: example cases, evenly chosen.

    Each row is the object's slice (3D: the axial slice through its centre)
    around the object, with every method's final mask and clicks on that
    slice, and its final Dice.
    """
    if len(chosen) > max_rows:
        picks = np.unique(np.linspace(0, len(chosen) - 1, max_rows).round().astype(int))
        chosen = [chosen[i] for i in picks]
    records = {(r["dim"], r["case"]): r for r in results["cases"]}
    rows = []
    for case, case_views in chosen:
        record = records[(dim, case.name)]
        image, truth, index = case.image, case.truth, None
        if dim == 3:
            filled = np.flatnonzero(truth.any(axis=(1, 2)))
            index = int(filled[np.argmin(np.abs(filled - np.argwhere(truth)[:, 0].mean()))])
            image, truth = image[index], truth[index]
        region = _view_box(truth)
        spacing = case.spacing[-2:]
        row = {"title": "{} ({})".format(case.name, case.group)[:40], "image": image[region],
               "truth": truth[region], "aspect": float(spacing[0]) / float(spacing[1]),
               "points": _on_slice(case_views["_points"], index, region), "methods": []}
        for name in names:
            if case_views.get(name) is None or name not in record["methods"]:
                row["methods"].append(None)
                continue
            mask = case_views[name][index] if dim == 3 else case_views[name]
            clicks = record["methods"][name]["clicks"]
            row["methods"].append({
                "mask": mask[region], "dice": record["methods"][name]["dice"][-1],
                "foreground": _on_slice([p for p, f in clicks if f], index, region),
                "background": _on_slice([p for p, f in clicks if not f], index, region)})
        rows.append(row)
    return rows


def _view_box(truth2d):
    idx = np.argwhere(truth2d)
    box = []
    for axis, (lo, hi) in enumerate(zip(idx.min(0), idx.max(0))):
        pad = int(0.35 * (hi - lo + 1)) + 4
        box.append(slice(max(int(lo) - pad, 0), min(int(hi) + pad + 1, truth2d.shape[axis])))
    return tuple(box)


def _on_slice(points, index, region):
    """Points (N, ndim) on the shown slice, as (M, 2) coordinates relative to `region`."""
    points = np.asarray(points, dtype=float).reshape(-1, len(region) + (0 if index is None else 1))
    if index is not None:
        points = points[np.abs(points[:, 0] - index) <= 0.5][:, 1:]
    corner = np.array([s.start for s in region], dtype=float)
    return points - corner


def _reported_clicks(max_clicks):
    return [k for k in (0, 1, 3, 5, 10, 20) if k < max_clicks] + [max_clicks]


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return "{:.{}f}".format(value, digits)


_PROTOCOL = (
    "One simulated user for every method (`core/simulate.py`). Interaction 0: the same interior margin "
    "points for every method of a case (seeded); MIDeepSeg encodes them as its cue map, the classical "
    "methods take them as foreground seeds and the border of their relaxed bounding box (margin {margin} mm) "
    "as background. Each refinement click goes to the most interior voxel of the largest error region of "
    "*that method's* current mask. NoC@85 / NoC@90: refinement clicks until Dice first reaches 0.85 / 0.90 "
    "(0: the initial result does); a case that never does counts as {penalty} (budget + 1). Time: seconds "
    "per interaction (initial, then mean per refinement click). Table 3's GC and the paper's IF-GC (pure "
    "geodesic fusion, no reach) replay the clicks the user gave our IF-GC (the paper's \"same set "
    "of clicks\").")


def markdown_report(results, figures=None):
    """The Markdown report of :func:`run_benchmark` results (figures: from :func:`write_figures`)."""
    settings = results["settings"]
    figures = figures or {}
    lines = _report_header(results)
    for dim in [str(d) for d in settings["dims"]]:
        if dim in results["summary"]:
            lines += _report_dimension(results, dim, figures.get(dim, {}))
    return "\n".join(lines) + "\n"


def _report_header(results):
    settings, env = results["settings"], results.get("environment", {})
    k_max = settings["max_clicks"]
    lines = ["# MIDeepSeg benchmark", ""]
    if settings.get("quick"):
        lines += ["> **Quick mode**: a few small cases and {} clicks, to check the machinery. These numbers "
                  "are not the benchmark's figures.".format(k_max), ""]
    dims = ", ".join("{}D".format(d) for d in settings["dims"])
    lines.append("Cases: `{}`; dimensions: {}; refinement clicks: {}; seed: {}; device: {}; runtime: {} s "
                 "(Python {}, numpy {}, {}).".format(settings["cases"], dims, k_max, settings["seed"],
                                                     settings["device"], env.get("runtime_seconds", "?"),
                                                     env.get("python", "?"), env.get("numpy", "?"),
                                                     env.get("machine", "?")))
    if settings.get("command"):
        lines += ["", "Command: `{}`".format(settings["command"])]
    lines += ["", "## Protocol", "", _PROTOCOL.format(margin=_margin_text(results), penalty=k_max + 1), ""]
    lines += ["## Targets", "", "| target | dim | status | detail |", "|---|---|---|---|"]
    for t in results["targets"]:
        status = "**MISSED**" if t["status"] == "MISSED" else t["status"]
        lines.append("| {} | {}D | {} | {} |".format(t["target"], t["dim"], status,
                                                     t["detail"].replace("|", "/")))
    missed = [t for t in results["targets"] if t["status"] == "MISSED"]
    lines.append("")
    if missed:
        lines.append("**{} target(s) missed.** The tables below show by how much.".format(len(missed)))
    else:
        lines.append("No evaluated target was missed.")
    if results["notes"]:
        lines += ["", "## Notes", ""] + ["- " + n for n in results["notes"]]
    if results.get("models"):
        lines += ["", "## Models", "", "| dim | checkpoint | encoding | iterations | batch x processes |",
                  "|---|---|---|---|---|"]
        for dim, m in sorted(results["models"].items()):
            budget = [("-" if v is None else v) for v in (m["iterations"], m["batch_size"], m["processes"])]
            lines.append("| {}D | `{}` | {} | {} | {} x {} |".format(dim, m["checkpoint"], m["encoding"],
                                                                   *budget))
    return lines


def _report_dimension(results, dim, figures):
    k_max = results["settings"]["max_clicks"]
    ks = _reported_clicks(k_max)
    methods = results["summary"][dim]["methods"]
    n_cases = max([m["cases"] for m in methods.values()] + [0])
    lines = ["", "## {}D ({} cases)".format(dim, n_cases), "",
             "### Table 4 / Fig. 11: MIDeepSeg vs classical interactive methods", ""]
    lines += _method_table(methods, _interactive(methods), ks, k_max)
    for kind, caption in (("dice_vs_clicks", "Mean Dice vs refinement clicks"),
                          ("clicks_needed", "Refinement clicks needed to reach Dice 0.90 (Fig. 8)")):
        if kind in figures:
            lines += ["", "![{}]({})".format(caption, figures[kind])]
    lines += ["", "### Table 3: refinement with the same clicks", ""] + _table3(methods, dim, ks, k_max)
    lines += ["", "### Table 2: cue-map encodings (initial result)", ""] + _table2(results, dim)
    if "overlays" in figures:
        lines += ["", "### Examples (final masks)", "",
                  "Cyan: truth; green: the method's mask; yellow: interior margin points; green / red "
                  "squares: foreground / background clicks on the shown slice.", "",
                  "![Example overlays]({})".format(figures["overlays"])]
    lines += ["", "### Per case: Dice initial -> after {} clicks (NoC@90)".format(k_max), ""]
    names = ordered_methods(methods)
    lines += ["| case | group | " + " | ".join(method_label(n) for n in names) + " |",
              "|---|---|" + "---|" * len(names)]
    for record in results["cases"]:
        if str(record["dim"]) != dim:
            continue
        cells = []
        for n in names:
            run = record["methods"].get(n)
            if run is None:
                cells.append("-")
                continue
            noc = run["noc90"] if run["noc90"] is not None else ">{}".format(k_max)
            cells.append("{:.3f} -> {:.3f} ({})".format(run["dice"][0], run["dice"][-1], noc))
        lines.append("| {} | {} | {} |".format(record["case"], record["group"], " | ".join(cells)))
    return lines


def _table3(methods, dim, ks, k_max):
    ifgc, gc = ("mideepseg", "mideepseg_gc") if "mideepseg" in methods else ("standin_ifgc", "standin_gc")
    if ifgc not in methods:
        return ["Not run."]
    lines = []
    if ifgc == "standin_ifgc":
        lines += ["*No {}D network: the initial probability is a stand-in (the true mask shrunk, shifted and "
                  "blurred). This checks GC / IF-GC, not MIDeepSeg.*".format(dim), ""]
    head = ["method"] + ["Dice {}".format(click_label(k)) for k in ks] + \
           ["ASSD {} (mm)".format(click_label(k)) for k in (0, k_max)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = methods[ifgc]
    cells = [_fmt(first["dice"][0])] + ["-"] * (len(ks) - 1) + [_fmt(first["assd"][0], 2), "-"]
    source = "CNN" if ifgc == "mideepseg" else "stand-in"
    lines.append("| initial ({}) | {} |".format(source, " | ".join(cells)))
    rows = ((gc, "GC"), (ifgc + "_paper" if ifgc == "standin_ifgc" else "mideepseg_ifgc_paper",
                         "IF-GC, pure geodesic fusion (paper)"), (ifgc, "IF-GC with the clicks' reach (ours)"))
    for name, short in rows:
        if name not in methods:
            continue
        m = methods[name]
        cells = [_fmt(m["dice"][k]) for k in ks] + [_fmt(m["assd"][0], 2), _fmt(m["assd"][k_max], 2)]
        lines.append("| {} | {} |".format(short, " | ".join(cells)))
    return lines


def _table2(results, dim):
    encodings = results["summary"][dim]["encodings"]
    if not encodings:
        return ["Not evaluated: no network for this dimension (pass one checkpoint per encoding)."]
    info = results.get("encoding_models", {}).get(dim, {})
    lines = ["| encoding | checkpoint | Dice | ASSD (mm) | encoding time (s) |", "|---|---|---|---|---|"]
    for name, e in encodings.items():
        lines.append("| {} | `{}` | {} | {} | {} |".format(
            name, info.get(name, {}).get("checkpoint", "?"), _fmt(e["dice"]), _fmt(e["assd"], 2),
            _fmt(e["encoding_seconds"], 4)))
    missing = [e for e in ENCODINGS if e not in encodings]
    if missing:
        lines += ["", "Missing (no network trained with them): {}.".format(", ".join(missing))]
    return lines


def _margin_text(results):
    margins = {m.get("margin_mm") for m in results.get("models", {}).values()}
    return "5" if not margins else "/".join("{:g}".format(m) for m in sorted(margins))


def _method_table(methods, names, ks, k_max):
    head = ["method"] + ["Dice {}".format(click_label(k)) for k in ks] + \
           ["ASSD {} (mm)".format(click_label(k)) for k in (0, k_max)] + \
           ["NoC@85", "NoC@90", "s initial", "s / click"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        m = methods[name]
        cells = [method_label(name)] + [_fmt(m["dice"][k]) for k in ks]
        cells += [_fmt(m["assd"][0], 2), _fmt(m["assd"][k_max], 2)]
        cells += ["{} ({}/{})".format(_fmt(m["noc85"], 2), m["reached85"], m["cases"]),
                  "{} ({}/{})".format(_fmt(m["noc90"], 2), m["reached90"], m["cases"]),
                  _fmt(m["initial_seconds"], 3), _fmt(m["refine_seconds"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ordered_methods(names):
    """Method names in report order: MIDeepSeg's variants, then the peers, then any other."""
    order = list(METHOD_LABELS) + list(PEERS)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))
