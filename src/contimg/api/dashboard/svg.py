"""Charts drawn server-side as inline SVG: run Gantt, group timeline, throughput, validity.

Each function returns SVG markup (a :class:`markupsafe.Markup`) with every text
escaped; colours come from CSS classes (``st-<status>``) defined in
``static/style.css``, so the charts follow the page's palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

__all__ = ["Bar", "TimelineCell", "gantt", "group_timeline", "throughput", "validity_windows"]

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Bar:
    """One attempt (or validity window) on a time axis."""

    row: str
    start: datetime
    end: datetime
    css: str
    label: str


def _fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _time_axis(
    x0: float, width: float, t0: datetime, span_s: float, y: float, height: float, *, clock: bool
) -> list[str]:
    out = []
    for i in range(6):
        frac = i / 5
        x = x0 + frac * width
        if clock:
            when = t0 + timedelta(seconds=frac * span_s)
            label = when.strftime("%m-%d %H:%M" if span_s > 86400 else "%H:%M")
        else:
            label = f"+{_fmt_s(frac * span_s)}" if i else "0"
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + height}" class="grid"/>')
        out.append(
            f'<text x="{x:.1f}" y="{y + height + 13}" text-anchor="middle" '
            f'class="axis">{escape(label)}</text>'
        )
    return out


def gantt(bars: Sequence[Bar], *, width: int = 860, clock: bool = False) -> Markup:
    """Horizontal bars per row on a shared time axis (a run's stage attempts).

    Parameters
    ----------
    bars : sequence of Bar
        Rows appear in order of first appearance; several bars may share a row
        (retries). ``css`` is the status class, ``label`` the tooltip.
    width : int
        Total width in pixels.
    clock : bool
        Label the axis with UTC clock times instead of offsets.

    Returns
    -------
    markupsafe.Markup
        The ``<svg>`` element.
    """
    if not bars:
        return Markup('<p class="muted">No stage has started yet.</p>')
    rows: list[str] = []
    for b in bars:
        if b.row not in rows:
            rows.append(b.row)
    t0 = min(b.start for b in bars)
    t1 = max(b.end for b in bars)
    span = max((t1 - t0).total_seconds(), 1e-3)
    label_w, row_h, top = 150, 22, 6
    plot_w = width - label_w - 40
    height = top + row_h * len(rows) + 24
    parts = [
        f'<svg class="chart gantt" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="stage timeline" {_FONT}>'
    ]
    parts += _time_axis(label_w, plot_w, t0, span, top, row_h * len(rows), clock=clock)
    for i, name in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" '
            f'class="label">{escape(name)}</text>'
        )
    for b in bars:
        y = top + rows.index(b.row) * row_h + 4
        x = label_w + (b.start - t0).total_seconds() / span * plot_w
        w = max((b.end - b.start).total_seconds() / span * plot_w, 2.0)
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 8}" rx="3" '
            f'class="bar {escape(b.css)}"><title>{escape(b.label)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class TimelineCell:
    """One group in the recent-groups strip."""

    label: str
    css: str
    title: str
    href: str | None = None


def group_timeline(cells: Sequence[TimelineCell], *, width: int = 860) -> Markup:
    """Draw a strip of squares, oldest left, one per group, coloured by outcome."""
    if not cells:
        return Markup('<p class="muted">No groups recorded yet.</p>')
    size, gap = 16, 3
    per_row = max(1, (width - 4) // (size + gap))
    n_rows = (len(cells) + per_row - 1) // per_row
    height = n_rows * (size + gap) + 4
    parts = [
        f'<svg class="chart strip" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="recent groups" {_FONT}>'
    ]
    for i, c in enumerate(cells):
        x = 2 + (i % per_row) * (size + gap)
        y = 2 + (i // per_row) * (size + gap)
        rect = (
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="3" '
            f'class="cell {escape(c.css)}"><title>{escape(c.title)}</title></rect>'
        )
        parts.append(f'<a href="{escape(c.href)}">{rect}</a>' if c.href else rect)
    parts.append("</svg>")
    return Markup("".join(parts))


def throughput(
    hours: Sequence[datetime],
    completed: Sequence[int],
    failed: Sequence[int],
    median_latency_s: Sequence[float | None],
    *,
    width: int = 860,
) -> Markup:
    """Draw runs finished per hour (stacked completed/failed bars) and median run time (dots)."""
    if not hours:
        return Markup('<p class="muted">No finished runs yet.</p>')
    left, right, top, plot_h = 40, 50, 8, 120
    plot_w = width - left - right
    height = top + plot_h + 24
    n = len(hours)
    slot = plot_w / n
    peak = max(1, max(c + f for c, f in zip(completed, failed, strict=True)))
    lat = [v for v in median_latency_s if v is not None]
    lat_max = max(lat) if lat else 1.0
    parts = [
        f'<svg class="chart throughput" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="throughput and latency" {_FONT}>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'class="grid"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="axis">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>',
        f'<text x="{left + plot_w + 6}" y="{top + 10}" class="axis lat">'
        f"{escape(_fmt_s(lat_max)) if lat else ''}</text>",
    ]
    for i, (hour, c, f) in enumerate(zip(hours, completed, failed, strict=True)):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        hc = c / peak * plot_h
        hf = f / peak * plot_h
        y = top + plot_h
        tip = f"{hour:%Y-%m-%d %H}:00 UTC: {c} completed, {f} failed"
        if median_latency_s[i] is not None:
            tip += f", median run {_fmt_s(median_latency_s[i] or 0.0)}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        if c:
            parts.append(
                f'<rect x="{x:.1f}" y="{y - hc:.1f}" width="{w:.1f}" height="{hc:.1f}" '
                'class="bar st-completed"/>'
            )
        if f:
            parts.append(
                f'<rect x="{x:.1f}" y="{y - hc - hf:.1f}" width="{w:.1f}" '
                f'height="{hf:.1f}" class="bar st-failed"/>'
            )
        if median_latency_s[i] is not None:
            ly = top + plot_h - (median_latency_s[i] or 0.0) / lat_max * plot_h
            parts.append(f'<circle cx="{x + w / 2:.1f}" cy="{ly:.1f}" r="3" class="lat"/>')
        parts.append("</g>")
        if i % max(1, n // 6) == 0:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'class="axis">{hour:%H}h</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def validity_windows(bars: Sequence[Bar], *, width: int = 860) -> Markup:
    """Calibration sets' validity windows on a UTC clock axis (one row per set)."""
    if not bars:
        return Markup('<p class="muted">No calibration sets yet.</p>')
    return gantt(bars, width=width, clock=True)
