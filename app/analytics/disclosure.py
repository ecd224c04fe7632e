"""Small cells hidden (k-anonymity): every count below k recipients or events is withheld,
with every rate or mean computed from it, so a small group cannot be singled out.

Three rules, applied in order:
1. A count below k is hidden ("fewer than 10"); zero too, since "nobody in this group"
   also describes each person in it.
2. A row whose group (its audience, or the delivered messages that showed an excerpt) is
   below k is hidden whole: a report on fewer than k people is a report on people.
3. Complementary cells: where a table's rows add up to a total shown elsewhere, one hidden
   cell in a column could be worked out as the total minus the others, so the smallest
   other visible cell of that column is hidden too ("hidden: would reveal a smaller cell").
"""

from dataclasses import dataclass, field

COMPLEMENT_MARKER = "hidden: would reveal a smaller cell"

# rate -> (numerator, denominator); a rate is hidden when either count is.
RATES: dict[str, tuple[str, str]] = {
    "open_rate_raw": ("unique_opens_raw", "delivered"),
    "open_rate_human": ("unique_opens_human", "delivered"),
    "click_rate_raw": ("unique_clickers_raw", "delivered"),
    "click_rate_human": ("unique_clickers_human", "delivered"),
    "click_to_open_rate_raw": ("unique_clickers_raw", "unique_opens_raw"),
    "click_to_open_rate_human": ("unique_clickers_human", "unique_opens_human"),
    "unsubscribe_rate": ("unsubscribes", "delivered"),
    "feedback_useful_share": ("feedback_useful", "feedback_votes"),
    # Means: the sum is never shown; the number of ratings decides.
    "feedback_relevance_mean": ("relevance_sum", "relevance_count"),
    "feedback_clarity_mean": ("clarity_sum", "clarity_count"),
}
# Counts that only feed a mean: checked against k, never published.
INTERNAL = {"relevance_sum", "relevance_count", "clarity_sum", "clarity_count"}


def small_marker(min_cell: int) -> str:
    return f"fewer than {min_cell}"


@dataclass
class Row:
    """One report row: its counts before hiding, and what is hidden and why."""

    counts: dict[str, int]
    hidden: dict[str, str] = field(default_factory=dict)

    def hide_small(self, *, min_cell: int, group: str | None) -> "Row":
        marker = small_marker(min_cell)
        whole_row = group is not None and self.counts.get(group, 0) < min_cell
        for name, value in self.counts.items():
            if name in ("relevance_sum", "clarity_sum"):
                continue  # a sum of ratings is not a number of people or events
            if whole_row or value < min_cell:
                self.hidden[name] = marker
        return self

    def published(self) -> dict[str, int | float | None]:
        """Counts and rates with hidden ones as None; `hidden` lists them with a reason."""
        values: dict[str, int | float | None] = {
            name: None if name in self.hidden else value
            for name, value in self.counts.items()
            if name not in INTERNAL
        }
        for rate, (numerator, denominator) in RATES.items():
            if numerator not in self.counts or denominator not in self.counts:
                continue
            reason = self.hidden.get(numerator) or self.hidden.get(denominator)
            if reason:
                self.hidden[rate] = reason
                values[rate] = None
            else:
                top, bottom = self.counts[numerator], self.counts[denominator]
                values[rate] = round(top / bottom, 4) if bottom else None
        return values

    def public_hidden(self) -> dict[str, str]:
        return {name: why for name, why in self.hidden.items() if name not in INTERNAL}


def hide_complements(rows: list[Row], *, columns: list[str]) -> None:
    """Where exactly one row hides a cell of an additive column, hide the smallest other
    visible cell too, so the hidden one is not the total minus the rest."""
    for column in columns:
        hidden = [row for row in rows if column in row.hidden]
        visible = [row for row in rows if column not in row.hidden and column in row.counts]
        if len(hidden) == 1 and visible:
            smallest = min(visible, key=lambda row: row.counts[column])
            smallest.hidden[column] = COMPLEMENT_MARKER
