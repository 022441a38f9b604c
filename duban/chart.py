"""The weekly digest's chart: milestones by pace colour, one horizontal stacked bar per department or year.

Rendered with matplotlib's object API on an Agg canvas (no pyplot, no rcParams changes), so it can run
inside the bot's process without touching global plotting state. Chinese text needs a CJK font; one is
looked up once per process (see `cjk_font_available`) and passed to every text call explicitly.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from dataclasses import dataclass, fields

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

# Family names as matplotlib's font manager reports them, best first.
PREFERRED_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "SimHei",
    "Microsoft YaHei",
)
# Lower-case, alphanumeric-only fragments of the file names those families ship in
# (NotoSansCJK-Regular.ttc, NotoSansSC-Regular.otf, wqy-zenhei.ttc, SourceHanSansSC-Regular.otf, simhei.ttf, msyh.ttc).
_CJK_FILE_HINTS = ("notosanscjk", "notosanssc", "wqy", "sourcehansans", "simhei", "msyh")

MAX_ROWS = 25
OTHER_LABEL = "其他"
EMPTY_TEXT = "暂无数据"

# (ChartRow field, legend label, bar colour, colour of the count printed on the bar), left to right.
SEGMENTS = (
    ("done", "已销号", "#1b5e20", "white"),
    ("green", "正常", "#66bb6a", "black"),
    ("amber", "滞后", "#ffb300", "black"),
    ("red", "逾期或受阻", "#d32f2f", "white"),
    ("grey", "未汇报", "#bdbdbd", "black"),
)

WIDTH_PX = 1000
DPI = 100
_ROW_HEIGHT_IN = 0.42
_FIXED_HEIGHT_IN = 1.9  # title, legend, x axis
_MIN_HEIGHT_IN = 3.2


@dataclass(frozen=True)
class ChartRow:
    """Milestone counts by pace colour for one department or one year; `label` is Chinese."""

    label: str
    green: int
    amber: int
    red: int
    grey: int
    done: int

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "label" and getattr(self, f.name) < 0:
                raise ValueError(f"{f.name} must not be negative: {self!r}")

    @property
    def open(self) -> int:
        """Milestones not yet closed out (销号)."""
        return self.green + self.amber + self.red + self.grey

    @property
    def total(self) -> int:
        return self.open + self.done


def fold_rows(rows: list[ChartRow], limit: int = MAX_ROWS) -> list[ChartRow]:
    """At most `limit` rows: beyond that, the `limit - 1` rows with the most open milestones (in their
    original order; ties go to the earlier row), then one "其他" row summing all the others."""
    if len(rows) <= limit:
        return list(rows)
    ranked = sorted(range(len(rows)), key=lambda i: -rows[i].open)  # stable: ties keep input order
    keep = set(ranked[: limit - 1])
    rest = [row for i, row in enumerate(rows) if i not in keep]
    other = ChartRow(
        label=OTHER_LABEL,
        green=sum(r.green for r in rest),
        amber=sum(r.amber for r in rest),
        red=sum(r.red for r in rest),
        grey=sum(r.grey for r in rest),
        done=sum(r.done for r in rest),
    )
    return [row for i, row in enumerate(rows) if i in keep] + [other]


_font_lock = threading.Lock()
_font_resolved = False
_font_family: str | None = None


def _known_preferred_family() -> str | None:
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in PREFERRED_CJK_FAMILIES if name in names), None)


def _register_system_cjk_fonts() -> None:
    """Add CJK font files the font manager does not know yet, e.g. when its cache in ~/.cache/matplotlib
    predates `apt-get install fonts-noto-cjk`. Only the fonts' own files are read; nothing is deleted."""
    known = {os.path.realpath(entry.fname) for entry in font_manager.fontManager.ttflist}
    for path in sorted(font_manager.findSystemFonts()):
        key = re.sub(r"[^a-z0-9]", "", os.path.basename(path).lower())
        if not any(hint in key for hint in _CJK_FILE_HINTS) or os.path.realpath(path) in known:
            continue
        try:
            font_manager.fontManager.addfont(path)
        except Exception as exc:  # a broken font file must not break the digest
            log.debug("could not load font %s: %s", path, exc)
        else:
            log.debug("registered CJK font %s", path)


def _resolve_cjk_family() -> str | None:
    family = _known_preferred_family()
    if family is None:
        _register_system_cjk_fonts()
        family = _known_preferred_family()
    return family


def cjk_font_family() -> str | None:
    """The CJK font family used for chart text, or None when none is installed. Looked up once."""
    global _font_resolved, _font_family
    with _font_lock:
        if not _font_resolved:
            _font_family = _resolve_cjk_family()
            _font_resolved = True
            if _font_family is None:
                log.warning(
                    "no CJK font found (tried %s); Chinese text in charts will show as boxes. "
                    "Install one, e.g. `apt-get install fonts-noto-cjk`.",
                    ", ".join(PREFERRED_CJK_FAMILIES),
                )
            else:
                log.debug("chart font: %s", _font_family)
        return _font_family


def cjk_font_available() -> bool:
    return cjk_font_family() is not None


def _reset_font_lookup() -> None:
    """Forget the looked-up font (for tests)."""
    global _font_resolved, _font_family
    with _font_lock:
        _font_resolved, _font_family = False, None


def _font(size: float, *, weight: str = "normal") -> FontProperties:
    family = cjk_font_family()
    if family is None:
        return FontProperties(size=size, weight=weight)
    return FontProperties(family=family, size=size, weight=weight)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _empty_figure(title: str) -> Figure:
    fig = Figure(figsize=(WIDTH_PX / DPI, _MIN_HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontproperties=_font(18, weight="bold"))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, EMPTY_TEXT, ha="center", va="center", color="#616161", fontproperties=_font(16))
    return fig


def render_progress_chart(rows: list[ChartRow], *, title: str) -> bytes:
    """A PNG, 1000 px wide, one horizontal bar per row (top to bottom in the given order), each split into
    已销号/正常/滞后/逾期或受阻/未汇报. More than 25 rows are folded (see `fold_rows`); no rows give a
    chart saying 暂无数据."""
    return _png(progress_figure(rows, title=title))


def progress_figure(rows: list[ChartRow], *, title: str) -> Figure:
    """The chart `render_progress_chart` draws, as a Figure on its own Agg canvas (not registered with pyplot)."""
    if not rows:
        return _empty_figure(title)
    rows = fold_rows(rows)
    n = len(rows)
    height_in = max(_MIN_HEIGHT_IN, _FIXED_HEIGHT_IN + _ROW_HEIGHT_IN * n)
    fig = Figure(figsize=(WIDTH_PX / DPI, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontproperties=_font(18, weight="bold"))
    ax = fig.add_subplot()

    y = list(range(n))
    widest = max(row.total for row in rows) or 1
    count_font = _font(11)
    left = [0] * n
    for name, _, colour, text_colour in SEGMENTS:
        widths = [getattr(row, name) for row in rows]
        ax.barh(y, widths, left=left, height=0.7, color=colour, edgecolor="white", linewidth=0.8)
        for i, width in enumerate(widths):
            if width and width / widest >= 0.035 * len(str(width)):  # print the count only where it fits
                ax.text(
                    left[i] + width / 2,
                    i,
                    str(width),
                    ha="center",
                    va="center",
                    color=text_colour,
                    fontproperties=count_font,
                )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    total_font = _font(11)
    for i, row in enumerate(rows):
        ax.text(
            row.total + widest * 0.01,
            i,
            str(row.total),
            va="center",
            color="#424242",
            fontproperties=total_font,
        )

    ax.set_yticks(y, [row.label for row in rows])
    for tick_label in ax.get_yticklabels():
        tick_label.set_fontproperties(_font(13))
    ax.set_ylim(n - 0.5, -0.5)  # first row on top
    ax.set_xlim(0, widest * 1.08)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelsize=11)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("节点数", fontproperties=_font(12))
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    handles = [Patch(facecolor=colour, label=label) for _, label, colour, _ in SEGMENTS]
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(SEGMENTS),
        frameon=False,
        prop=_font(12),
        handlelength=1.2,
        columnspacing=1.4,
        borderaxespad=0.3,
    )
    return fig
