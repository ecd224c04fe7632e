"""Chart geometry for the studio's analytics pages: lines over issues and horizontal bars,
computed here and drawn as inline SVG by the templates (no chart library, no script).

A value that is hidden (a small cell) or missing is None: a line has a gap there and a bar
gives way to its marker text, so a chart never shows more than the report does.
"""

import math
from dataclasses import dataclass, field

WIDTH = 420  # a line chart; scaled to the page, so about 1.3 times at desktop width
LINE_HEIGHT = 220
BAR_WIDTH = 360  # bar charts are drawn narrower: their labels stay legible on a phone
# Room for the y axis labels on the left and the issue numbers below.
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 36
BAR_LABEL_HEIGHT = 20
BAR_HEIGHT = 14
BAR_GAP = 4
ROW_GAP = 12
BAR_TEXT_ROOM = 64  # right of the longest bar: "48.5 %" or "1234"
STEPS = [m * 10**e for e in range(-2, 8) for m in (1, 2, 2.5, 5)]
MAX_X_LABELS = 10  # beyond this many issues, every other (third, ...) number is written


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str  # the x label, for the point's tooltip


@dataclass
class Line:
    name: str
    css: str
    segments: list[str] = field(default_factory=list)  # SVG points="x,y x,y" runs
    points: list[Point] = field(default_factory=list)


@dataclass
class LineChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_bottom: float
    gridlines: list[tuple[float, float]]  # (y, value)
    x_labels: list[tuple[float, str]]
    lines: list[Line]
    percent: bool


@dataclass(frozen=True)
class Bar:
    name: str
    css: str
    y: float
    width: float
    value: float | None
    hidden: str | None


@dataclass
class BarRow:
    label: str
    label_y: float
    bars: list[Bar]


@dataclass
class BarChart:
    width: int
    height: int
    plot_width: float
    rows: list[BarRow]
    percent: bool
    bar_height: int = BAR_HEIGHT


def nice_scale(largest: float, *, percent: bool) -> tuple[float, float]:
    """The top of the axis and the step between gridlines: at most five round steps (1, 2,
    2.5 or 5 times a power of ten; whole numbers for counts), never above 100 % for rates."""
    largest = max(largest, 0.1 if percent else 5)
    for step in STEPS:
        if not percent and step != int(step):
            continue
        steps = math.ceil(largest / step - 1e-9)
        if steps <= 5:
            top = steps * step
            return (min(top, 1.0), step) if percent else (top, step)
    return largest, largest / 5


def line_chart(
    x_labels: list[str], series: list[tuple[str, str, list[float | None]]], *, percent=True
) -> LineChart:
    """One line per (name, css class, values); values line up with `x_labels`."""
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    plot_top, plot_bottom = TOP, LINE_HEIGHT - BOTTOM
    known = [v for _, _, values in series for v in values if v is not None]
    top_value, step_value = nice_scale(max(known, default=0.0), percent=percent)
    count = len(x_labels)
    step = (plot_right - plot_left) / (count - 1) if count > 1 else 0

    def x_of(i: int) -> float:
        return round(plot_left + i * step if count > 1 else (plot_left + plot_right) / 2, 1)

    def y_of(value: float) -> float:
        return round(plot_bottom - value / top_value * (plot_bottom - plot_top), 1)

    lines = []
    for name, css, values in series:
        line, run = Line(name=name, css=css), []
        for i, value in enumerate(values):
            if value is None:  # a hidden cell: the line breaks rather than guesses
                if run:
                    line.segments.append(" ".join(run))
                run = []
                continue
            point = Point(x=x_of(i), y=y_of(value), value=value, label=x_labels[i])
            line.points.append(point)
            run.append(f"{point.x},{point.y}")
        if run:
            line.segments.append(" ".join(run))
        lines.append(line)
    every = math.ceil(count / MAX_X_LABELS) if count else 1
    ticks = [min(k * step_value, top_value) for k in range(round(top_value / step_value) + 1)]
    gridlines = [(y_of(tick), tick) for tick in ticks]
    return LineChart(
        width=WIDTH,
        height=LINE_HEIGHT,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_bottom=plot_bottom,
        gridlines=gridlines,
        x_labels=[
            (x_of(i), label) for i, label in enumerate(x_labels) if i % every == 0 or i == count - 1
        ],
        lines=lines,
        percent=percent,
    )


def bar_chart(
    rows: list[tuple[str, list[tuple[str, str, float | None, str | None]]]],
    *,
    percent: bool = True,
) -> BarChart:
    """Horizontal bars: per row a label, then one bar per (name, css, value, hidden text)."""
    plot_width = BAR_WIDTH - BAR_TEXT_ROOM
    known = [value for _, bars in rows for _, _, value, _ in bars if value is not None]
    top_value, _ = nice_scale(max(known, default=0.0), percent=percent)
    laid_out, y = [], 0.0
    for label, bars in rows:
        label_y = y + BAR_LABEL_HEIGHT - 6
        y += BAR_LABEL_HEIGHT
        drawn = []
        for name, css, value, hidden in bars:
            width = 0.0 if value is None else round(value / top_value * plot_width, 1)
            drawn.append(Bar(name=name, css=css, y=y, width=width, value=value, hidden=hidden))
            y += BAR_HEIGHT + BAR_GAP
        laid_out.append(BarRow(label=label, label_y=label_y, bars=drawn))
        y += ROW_GAP
    return BarChart(
        width=BAR_WIDTH,
        height=max(math.ceil(y), 1),
        plot_width=plot_width,
        rows=laid_out,
        percent=percent,
    )
