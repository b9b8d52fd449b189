"""The report's pictures, drawn with matplotlib and inlined as SVG.

SVG keeps report.html one self-contained file that needs no JavaScript and no
network: the plots are plain markup (text stays text, so it is searchable and
sharp at any zoom). Scatter plots with many points are rasterised inside the SVG
to keep the file small.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from chaoskit.faults.catalogue import family_of
from chaoskit.report.data import NS, FaultWindow, RunData  # noqa: E402

OUTCOME_COLOURS = {"ok": "#2f9e5f", "rejected": "#4a7fc1", "fail": "#d9423a", "info": "#f0a020"}
FAULT_COLOURS = {
    "network": "#5b7fd6",
    "process": "#c0504d",
    "clock": "#9a6fc4",
    "quorum": "#d08b2c",
    "resource": "#4a9a5b",
    "disk": "#8c6d46",
    "other": "#7a8796",
}
REGION_PALETTE = [
    "#3b6fb6",
    "#d1603d",
    "#4a9a5b",
    "#8e5cb5",
    "#c4a232",
    "#3aa6a6",
    "#b5527f",
    "#6f7d8c",
]
RASTER_ABOVE = 4000  # points per scatter before rasterising

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text as <text>, rendered with the page's fonts
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#9aa5b1",
        "axes.labelcolor": "#38424c",
        "xtick.color": "#5b6670",
        "ytick.color": "#5b6670",
        "axes.grid": True,
        "grid.color": "#e6eaee",
        "grid.linewidth": 0.7,
    }
)


def fault_colour(kind: str) -> str:
    return FAULT_COLOURS.get(family_of(kind), FAULT_COLOURS["other"])


def region_colour(regions: list[str], region: str) -> str:
    return (
        REGION_PALETTE[regions.index(region) % len(REGION_PALETTE)] if region in regions else "#666"
    )


def to_svg(fig: plt.Figure) -> str:
    """The figure as an inline <svg> element that scales to its container."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    # Responsive: drop the fixed size, keep the viewBox.
    svg = re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 class="plot" preserveAspectRatio="xMidYMid meet"',
        svg,
        count=1,
    )
    return svg


def _shade_faults(ax: plt.Axes, faults: list[FaultWindow], end_ns: int, label: bool) -> int:
    """Shade every fault window; with `label`, name them above the axes.

    Labels that would overlap go on further rows (greedy, by start time); returns
    the number of rows used so callers can leave room.
    """
    rows_end: list[float] = []  # per row: where its last label ends, in axes fraction
    lo, hi = ax.get_xlim()
    for f in sorted(faults, key=lambda f: f.start_ns):
        a = f.start_ns / NS
        b = (f.end_ns if f.end_ns is not None else end_ns) / NS
        c = fault_colour(f.kind)
        ax.axvspan(a, b, color=c, alpha=0.12, lw=0, zorder=0)
        ax.axvline(a, color=c, lw=0.8, alpha=0.6, zorder=0)
        if not label:
            continue
        text = f" {f.label()}"
        x0 = (a - lo) / (hi - lo) if hi > lo else 0.0
        width = 0.0072 * len(text)  # ~8 pt characters on a 10 in wide figure
        row = next((i for i, e in enumerate(rows_end) if e <= x0), len(rows_end))
        if row == len(rows_end):
            rows_end.append(0.0)
        rows_end[row] = x0 + width
        ax.annotate(
            text, xy=(a, 1.0), xycoords=ax.get_xaxis_transform(), xytext=(0, 3 + 11 * row),
            textcoords="offset points", fontsize=8, color=c, va="bottom", ha="left", annotation_clip=False,
        )  # fmt: skip
    return len(rows_end)


def latency_raw(run: RunData) -> str:
    """Jepsen-style latency-raw: every operation a point, one panel per region."""
    regions = run.regions or ["?"]
    n = len(regions)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.9 * n + 0.6), sharex=True, squeeze=False)
    ops = run.load_ops
    end = run.load_end_ns
    total = len(ops)
    axes[-1][0].set_xlim(
        run.load_start_ns / NS, end / NS
    )  # before shading: labels are placed by it
    label_rows = 1
    for i, region in enumerate(regions):
        ax = axes[i][0]
        rows = _shade_faults(ax, run.faults, end, label=i == 0)
        if i == 0:
            label_rows = max(1, rows)
        mine = [o for o in ops if o.region == region]
        for outcome in ("ok", "rejected", "info", "fail"):
            # a rejected cas (compare did not match) is a `fail` the system answered
            pts = [o for o in mine if ("rejected" if o.rejected else o.type) == outcome]
            xs = [o.invoke_ns / NS for o in pts]
            ys = [max((o.latency_ns or (end - o.invoke_ns)) / 1e6, 0.01) for o in pts]
            if xs:
                ax.scatter(
                    xs, ys, s=7, c=OUTCOME_COLOURS[outcome], alpha=0.75, lw=0,
                    label=f"{outcome} ({len(xs)})", rasterized=total > RASTER_ABOVE, zorder=2,
                )  # fmt: skip
        ax.set_yscale("log")
        # Labels at 1-2-5 steps: a typical run spans less than one decade (30-400 ms),
        # where plain powers of ten would leave a single labelled tick.
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("latency ms")
        ax.set_title(
            region,
            loc="left",
            fontsize=10,
            fontweight="bold",
            color=region_colour(run.regions, region),
            pad=3 + 11 * label_rows if i == 0 else 4,
        )
        if mine:
            ax.legend(loc="upper right", fontsize=7.5, frameon=False, ncol=3, markerscale=1.6)
    axes[-1][0].set_xlabel("seconds since run start (operation invoked)")
    axes[-1][0].set_xlim(run.load_start_ns / NS, end / NS)
    fig.tight_layout()
    return to_svg(fig)


def _bins(run: RunData, width_s: float = 1.0) -> list[float]:
    s, e = run.load_start_ns / NS, run.load_end_ns / NS
    n = max(1, math.ceil((e - s) / width_s))
    return [s + i * width_s for i in range(n + 1)]


def throughput(run: RunData, width_s: float = 1.0) -> str:
    """Served (ok + rejected cas) operations per second and error rate per region, in 1 s bins."""
    edges = _bins(run, width_s)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 4.6), sharex=True)
    end = run.load_end_ns
    ax2.set_xlim(run.load_start_ns / NS, end / NS)  # before shading: labels are placed by it
    _shade_faults(ax1, run.faults, end, label=True)
    _shade_faults(ax2, run.faults, end, label=False)
    mids = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    for region in run.regions:
        c = region_colour(run.regions, region)
        ok = [0] * len(mids)
        tot = [0] * len(mids)
        for o in run.load_ops:
            if o.region != region:
                continue
            i = int((o.invoke_ns / NS - edges[0]) // width_s)
            if 0 <= i < len(mids):
                tot[i] += 1
                ok[i] += o.served
        # The last bin may stick out past the end of the load: divide by its real width.
        widths = [
            max(1e-9, min(b, run.load_end_ns / NS) - a)
            for a, b in zip(edges, edges[1:], strict=False)
        ]
        ax1.plot(
            mids,
            [v / w for v, w in zip(ok, widths, strict=True)],
            color=c,
            lw=1.6,
            label=region,
            marker="o",
            ms=2.5,
        )
        err = [None if t == 0 else 100.0 * (t - k) / t for k, t in zip(ok, tot, strict=True)]
        ax2.plot(
            mids,
            [float("nan") if v is None else v for v in err],
            color=c,
            lw=1.6,
            label=region,
            marker="o",
            ms=2.5,
        )
    ax1.set_ylabel("served ops/s")
    ax1.set_ylim(bottom=0)
    ax2.set_ylabel("errors %  (fail + info)")  # a rejected cas is served, not an error
    ax2.set_ylim(-3, 103)
    ax2.set_xlabel("seconds since run start")
    # Region legend to the right of the upper plot (the space above is for the fault
    # labels): next to the lines it names, not a scroll away under the error plot.
    ax1.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False,
        title="region", title_fontsize=8.5, alignment="left",
    )  # fmt: skip
    ax2.set_xlim(run.load_start_ns / NS, end / NS)
    fig.tight_layout()
    return to_svg(fig)


def _loss_windows(ax: plt.Axes, windows: list) -> None:
    """Each loss window as a red band (earliest lost acknowledgement -> takeover), the
    takeover as a solid line."""
    for w in windows:
        ax.axvspan(w.start_s, w.end_s, color="#c0392b", alpha=0.25, lw=0, zorder=3)
        if w.takeover is not None:
            ax.axvline(w.takeover.time_s, color="#c0392b", lw=1.5, zorder=4)
        ax.text(
            w.start_s, 0.02, f" loss window {w.span_s:.1f} s, {w.count} writes",
            transform=ax.get_xaxis_transform(), fontsize=7.5, color="#8e1f14", va="bottom",
            zorder=5, fontweight="bold",
        )  # fmt: skip


def timeline(run: RunData, loss_windows: list | None = None) -> str:
    """The fault schedule as bars, with the run's milestones and loss windows."""
    faults = run.faults
    rows = max(1, len(faults))
    fig, ax = plt.subplots(figsize=(10, 0.45 * rows + 1.1))
    ax.set_axisbelow(True)  # grid lines behind the fault bars
    end = max(run.end_ns, run.load_end_ns) / NS
    for i, f in enumerate(faults):
        a = f.start_ns / NS
        b = (f.end_ns if f.end_ns is not None else run.load_end_ns) / NS
        c = fault_colour(f.kind)
        ax.barh(i, b - a, left=a, height=0.6, color=c, alpha=0.85, edgecolor="none")
        note = "" if f.healed else ("  heal FAILED" if f.healed is False else "  not healed")
        links = len((f.targets or {}).get("links") or [])  # what the fault cut or changed
        span = f"{b - a:.1f} s" + (f" · {links} links" if links else "")
        ax.text(b + end * 0.005, i, f"{span}{note}", va="center", fontsize=8, color="#38424c")
    ax.set_yticks(range(len(faults)), [f.label() for f in faults] if faults else [])
    ax.invert_yaxis()
    _loss_windows(ax, loss_windows or [])
    marks = {"load-start": "load start", "load-stop": "load stop", "final-reads": "final reads"}
    shown = [ev for ev in run.events if ev.get("event") in marks]
    gap = end * 0.08  # milestones closer than this would print over each other
    for k, ev in enumerate(shown):
        t = ev["time"] / NS
        ax.axvline(t, color="#7a8796", lw=1, ls="--")
        near_next = k + 1 < len(shown) and shown[k + 1]["time"] / NS - t < gap
        near_prev = k > 0 and t - shown[k - 1]["time"] / NS < gap
        # Two close milestones: the first label ends at its line, the second starts at its.
        # (An offset, not padding spaces: SVG collapses leading and trailing blanks.)
        ha = "right" if near_next else ("left" if near_prev else "center")
        ax.annotate(
            marks[ev["event"]], xy=(t, 1.0), xycoords=ax.get_xaxis_transform(),
            xytext=({"right": -3, "left": 3, "center": 0}[ha], 1), textcoords="offset points",
            fontsize=7.5, color="#5b6670", ha=ha, va="bottom", annotation_clip=False,
        )  # fmt: skip
    for ev in run.events:  # nodes that stopped while no fault covered them (nodewatch.py)
        if ev.get("event") != "node-exit":
            continue
        t = ev["time"] / NS
        ax.axvline(t, color="#d9423a", lw=1.4)
        ax.annotate(
            f"{ev.get('node')} exited", xy=(t, 0.0), xycoords=ax.get_xaxis_transform(),
            xytext=(3, 3), textcoords="offset points", fontsize=7.5, color="#d9423a",
            ha="left", va="bottom", annotation_clip=False,
        )  # fmt: skip
    if not faults:
        ax.text(
            0.5,
            0.5,
            "no fault was applied",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#7a8796",
        )
        ax.set_yticks([])
    ax.set_xlim(0, end * 1.06 + 0.1)
    ax.set_xlabel("seconds since run start")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return to_svg(fig)


def topology_picture(topo: dict) -> str:
    """Regions (boxes) with their zones and nodes, region pairs with their RTT; cut pairs dashed red."""
    regions = topo.get("regions") or []
    n = max(1, len(regions))
    # The circle grows with the number of regions so that the boxes do not overlap.
    radius = max(4.2, 0.75 * n)
    fig, ax = plt.subplots(figsize=(10, min(11.0, 5.2 * radius / 4.2) if n > 2 else 3.4))
    ax.set_axis_off()
    ax.set_aspect("equal")
    names = [r["name"] for r in regions]
    # With many regions, only cut pairs get a label (the RTT matrix below has them all).
    label_all = n <= 6
    pos = {}
    for i, name in enumerate(names):
        if n <= 2:
            pos[name] = (i * 6.0, 0.0)
        else:
            ang = math.pi / 2 + 2 * math.pi * i / n
            pos[name] = (radius * math.cos(ang) * 1.35, radius * math.sin(ang))
    for p in topo.get("pairs") or []:
        if p["a"] not in pos or p["b"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[p["a"]], pos[p["b"]]
        cut = p.get("cut_by") or []
        now = p.get("cut_now")
        style = (
            {"color": "#d9423a", "ls": (0, (4, 3)), "lw": 2.0}
            if (cut or now)
            else {"color": "#9aa5b1", "ls": "-", "lw": 1.6}
        )
        ax.plot([x1, x2], [y1, y2], zorder=1, **style)
        rtt = p.get("rtt_ms")
        label = "" if rtt is None or not (label_all or cut or now) else f"{rtt:.0f} ms RTT"
        if p.get("jitter_ms") and label:
            label += f" ±{p['jitter_ms']:.0f}"
        if cut:
            label += ("\n" if label else "") + "✂ cut by " + ", ".join(cut)
        if now:
            label += ("\n" if label else "") + "✂ cut now"
        if label:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            ax.text(
                mx, my, label, ha="center", va="center", fontsize=8,
                color="#d9423a" if (cut or now) else "#38424c",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "none", "alpha": 0.9}, zorder=3,
            )  # fmt: skip
    for r in regions:
        x, y = pos[r["name"]]
        zones = r.get("zones") or []
        w = max(2.2, 1.15 * len(zones) + 0.4)
        h = 1.9
        c = region_colour(names, r["name"])
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.08,rounding_size=0.25",
                fc="white",
                ec=c,
                lw=2,
                zorder=2,
            )
        )
        loc = f" ({r['location']})" if r.get("location") and r["location"] != r["name"] else ""
        clients = (topo.get("clients") or {}).get(r["name"])
        ax.text(
            x,
            y + h / 2 - 0.25,
            f"{r['name']}{loc}",
            ha="center",
            va="center",
            fontsize=9.5,
            fontweight="bold",
            color=c,
            zorder=4,
        )
        hits = sorted(
            {
                f
                for z in zones
                for n in z.get("nodes") or []
                for f in (topo.get("node_faults") or {}).get(n, [])
            }
        )
        if hits:
            ax.text(
                x,
                y - h / 2 - 0.22,
                "⚡ " + ", ".join(hits),
                ha="center",
                va="center",
                fontsize=7.5,
                color="#d9423a",
                zorder=4,
            )
        if clients:
            ax.text(
                x,
                y - h / 2 + 0.18,
                f"{clients} client{'s' if clients != 1 else ''}",
                ha="center",
                va="center",
                fontsize=7.5,
                color="#5b6670",
                zorder=4,
            )
        zw = (w - 0.3) / max(1, len(zones))
        for j, z in enumerate(zones):
            zx = x - w / 2 + 0.15 + j * zw
            ax.add_patch(
                FancyBboxPatch(
                    (zx + 0.05, y - 0.55),
                    zw - 0.1,
                    1.0,
                    boxstyle="round,pad=0.02,rounding_size=0.12",
                    fc="#f3f6f9",
                    ec="#c9d2db",
                    lw=0.8,
                    zorder=3,
                )
            )
            ax.text(
                zx + zw / 2,
                y + 0.3,
                z["name"],
                ha="center",
                va="center",
                fontsize=7,
                color="#5b6670",
                zorder=4,
            )
            nodes = z.get("nodes") or []
            for k, node in enumerate(nodes):
                cols = min(len(nodes), 4)
                nx = zx + zw / 2 + (k % cols - (cols - 1) / 2) * 0.22
                ny = y - 0.05 - (k // cols) * 0.25
                hit = node in (topo.get("node_faults") or {})
                ax.scatter(
                    [nx], [ny], s=90, color=c, zorder=5,
                    edgecolors="#d9423a" if hit else "white", linewidths=2.0 if hit else 0.8,
                )  # fmt: skip
                # The node's number within its region (names are <region>-<n>), inside its dot.
                ax.text(
                    nx,
                    ny,
                    node.rsplit("-", 1)[-1],
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white",
                    fontweight="bold",
                    zorder=6,
                )
    if regions:
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        # one region: as wide as two side by side, so that the page does not blow
        # a single box up to its full width
        pad = 5.6 if len(regions) == 1 else 2.6
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
        ax.set_ylim(min(ys) - 1.5, max(ys) + 1.5)
    fig.tight_layout()
    return to_svg(fig)
