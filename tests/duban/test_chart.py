"""The digest chart: a valid PNG a Telegram photo can carry, with Chinese text in a CJK font."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Text

from duban import chart
from duban.chart import ChartRow, fold_rows, progress_figure, render_progress_chart
from tests.ci import unavailable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TELEGRAM_PHOTO_LIMIT = 10 * 1024 * 1024

DEPARTMENTS = [
    ChartRow("区教体局", green=5, amber=2, red=1, grey=3, done=7),
    ChartRow("县发展和改革局", green=3, amber=0, red=4, grey=0, done=2),
    ChartRow("县住房和城乡建设局", green=0, amber=0, red=0, grey=6, done=0),
    ChartRow("2025年", green=1, amber=1, red=1, grey=1, done=12),
]


@pytest.fixture(autouse=True)
def fresh_font_lookup() -> Iterator[None]:
    chart._reset_font_lookup()
    yield
    chart._reset_font_lookup()


def require_cjk_font() -> None:
    if chart.cjk_font_available():
        return
    reason = "no CJK font installed (Debian/Ubuntu: apt-get install fonts-noto-cjk)"
    unavailable(f"chart tests need a CJK font: {reason}")


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_MAGIC)
    return imread(io.BytesIO(png), format="png")


def render_capturing_glyph_problems(
    rows: list[ChartRow], caplog: pytest.LogCaptureFixture
) -> tuple[bytes, list[str]]:
    """Render, and return every "Glyph ... missing from font(s)" message, whether matplotlib sent it
    through `warnings` or `logging`."""
    with caplog.at_level(logging.DEBUG, logger="matplotlib"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_progress_chart(rows, title="督办进度周报（第3周）")
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    return png, [m for m in messages if "missing from font" in m]


def test_the_chart_is_a_png_1000_pixels_wide_that_telegram_accepts() -> None:
    png = render_progress_chart(DEPARTMENTS, title="督办进度")

    image = decode(png)
    height, width = image.shape[:2]
    assert width == 1000
    assert 300 <= height <= 2000
    assert len(png) < TELEGRAM_PHOTO_LIMIT
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_height_grows_with_the_number_of_rows_and_stays_within_telegram_limits() -> None:
    few = decode(render_progress_chart(DEPARTMENTS[:2], title="督办进度"))
    many_rows = [ChartRow(f"部门{i}", green=i, amber=1, red=0, grey=2, done=3) for i in range(25)]
    many_png = render_progress_chart(many_rows, title="督办进度")
    many = decode(many_png)

    assert many.shape[0] > few.shape[0]
    assert many.shape[1] == few.shape[1] == 1000
    assert sum(many.shape[:2]) <= 10_000 and many.shape[0] / many.shape[1] <= 20  # Telegram's photo rules
    assert len(many_png) < TELEGRAM_PHOTO_LIMIT


def test_the_same_rows_give_the_same_bytes() -> None:
    assert render_progress_chart(DEPARTMENTS, title="督办进度") == render_progress_chart(
        DEPARTMENTS, title="督办进度"
    )
    assert b"Software" not in render_progress_chart(DEPARTMENTS, title="督办进度")


def test_chinese_text_renders_without_missing_glyphs(caplog: pytest.LogCaptureFixture) -> None:
    require_cjk_font()

    png, missing = render_capturing_glyph_problems(DEPARTMENTS, caplog)

    decode(png)
    assert missing == []
    assert chart.cjk_font_family() in chart.PREFERRED_CJK_FAMILIES


def test_empty_chart_says_no_data_in_chinese(caplog: pytest.LogCaptureFixture) -> None:
    require_cjk_font()

    png, missing = render_capturing_glyph_problems([], caplog)

    image = decode(png)
    assert image.shape[1] == 1000
    assert missing == []


def all_text(fig: Figure) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_empty_chart_draws_the_no_data_text_and_the_title() -> None:
    texts = all_text(progress_figure([], title="督办进度周报"))
    assert "暂无数据" in texts
    assert "督办进度周报" in texts


def test_the_chart_has_the_labels_legend_and_title() -> None:
    texts = all_text(progress_figure(DEPARTMENTS, title="督办进度周报"))
    for expected in ["督办进度周报", "区教体局", "县住房和城乡建设局", "2025年"]:
        assert expected in texts
    for legend in ["已销号", "正常", "滞后", "逾期或受阻", "未汇报"]:
        assert legend in texts


def test_more_than_25_rows_keep_the_24_with_most_open_milestones_and_sum_the_rest_into_other() -> None:
    # open milestones (green+amber+red+grey) of row i is i % 30, so rows 6..29 have the most
    rows = [ChartRow(f"部门{i:02d}", green=i % 30, amber=0, red=0, grey=0, done=100 - i) for i in range(30)]
    rows = rows[15:] + rows[:15]  # the caller's order is kept, not the ranking
    rows[0] = ChartRow("部门15", green=5, amber=4, red=3, grey=3, done=85)  # same open count, other colours

    folded = fold_rows(rows)

    assert len(folded) == 25
    assert folded[-1].label == "其他"
    kept = folded[:-1]
    assert [r.label for r in kept] == [
        r.label for r in rows if r.label not in {f"部门{i:02d}" for i in range(6)}
    ]
    rest = [r for r in rows if r not in kept]
    assert len(rest) == 6
    other = folded[-1]
    for colour in ("green", "amber", "red", "grey", "done"):
        assert getattr(other, colour) == sum(getattr(r, colour) for r in rest)
    assert other == ChartRow(
        "其他", green=0 + 1 + 2 + 3 + 4 + 5, amber=0, red=0, grey=0, done=100 + 99 + 98 + 97 + 96 + 95
    )
    # nothing is lost
    for colour in ("green", "amber", "red", "grey", "done"):
        assert sum(getattr(r, colour) for r in folded) == sum(getattr(r, colour) for r in rows)


def test_ties_for_the_last_place_go_to_the_earlier_row() -> None:
    rows = [ChartRow(f"部门{i}", green=1, amber=0, red=0, grey=0, done=0) for i in range(26)]

    folded = fold_rows(rows)

    assert [r.label for r in folded] == [f"部门{i}" for i in range(24)] + ["其他"]
    assert folded[-1] == ChartRow("其他", green=2, amber=0, red=0, grey=0, done=0)


def test_exactly_25_rows_are_not_folded() -> None:
    rows = [ChartRow(f"部门{i}", green=i, amber=0, red=0, grey=0, done=0) for i in range(25)]
    assert fold_rows(rows) == rows


def test_a_chart_of_30_rows_shows_25_bars_the_last_one_other() -> None:
    rows = [ChartRow(f"县直部门{i}", green=i % 7, amber=i % 3, red=i % 2, grey=1, done=i) for i in range(30)]
    fig = progress_figure(rows, title="全部部门")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 25 and labels[-1] == "其他"
    assert decode(render_progress_chart(rows, title="全部部门")).shape[1] == 1000


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="red"):
        ChartRow("区教体局", green=1, amber=0, red=-1, grey=0, done=0)


def test_without_a_cjk_font_the_chart_still_renders_and_one_warning_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(chart, "PREFERRED_CJK_FAMILIES", ("No Such CJK Font",))
    monkeypatch.setattr(chart, "_CJK_FILE_HINTS", ("no-such-font-file",))

    with caplog.at_level(logging.WARNING, logger="duban.chart"):
        assert not chart.cjk_font_available()
        png, missing = render_capturing_glyph_problems(DEPARTMENTS, caplog)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same missing glyphs again
            empty = render_progress_chart([], title="督办进度")

    decode(png)
    decode(empty)
    ours = [r for r in caplog.records if r.name == "duban.chart" and r.levelno >= logging.WARNING]
    assert len(ours) == 1 and "no CJK font" in ours[0].getMessage()
    # and the missing-glyph check used above does notice boxes instead of Chinese
    assert missing


def test_a_font_cache_older_than_the_font_package_is_worked_around(tmp_path: Path) -> None:
    """matplotlib caches its font list (~/.cache/matplotlib/fontlist-*.json) and does not rescan; a cache
    written before `apt-get install fonts-noto-cjk` lacks the font, so chart.py registers the files itself."""
    require_cjk_font()
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    write_stale_cache = textwrap.dedent(
        """
        import os
        import matplotlib
        from matplotlib import font_manager as fm
        from duban import chart
        cjk = set(chart.PREFERRED_CJK_FAMILIES)
        fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if f.name not in cjk and "CJK" not in f.name]
        path = os.path.join(matplotlib.get_cachedir(), f"fontlist-v{fm.FontManager.__version__}.json")
        fm.json_dump(fm.fontManager, path)
        """
    )
    check = textwrap.dedent(
        """
        import warnings
        from matplotlib import font_manager as fm
        from duban import chart
        assert not any("CJK" in f.name for f in fm.fontManager.ttflist), "the cache is not stale"
        warnings.filterwarnings("error", message="Glyph")
        chart.render_progress_chart([chart.ChartRow("区教体局", 1, 2, 3, 4, 5)], title="督办进度")
        print(chart.cjk_font_family())
        """
    )
    for script in (write_stale_cache, check):
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in chart.PREFERRED_CJK_FAMILIES
