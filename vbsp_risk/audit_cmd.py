"""CLI sub-command ``audit report``: the security log's refusals per client and day.

The service writes every 401, 403, commune-scoped 404 and admin action to ``security_events``
(:mod:`serving.security_log`). A key being guessed shows as a column of 401s with no client; a
key used outside its communes as 404s on its client; a role probing routes as 403s.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from vbsp_risk import options
from vbsp_state.schema import security_events

console = options.console()
audit_app = typer.Typer(help="The service's security log.", no_args_is_help=True)
UNKNOWN = "(no valid key)"


def summarise(engine: Engine, since: datetime) -> list[dict]:
    """Refusals by status and admin actions per day and client since ``since`` (naive UTC)."""
    t = security_events
    q = sa.select(t.c.created_at, t.c.client_id, t.c.role, t.c.kind, t.c.status).where(
        t.c.created_at >= since
    )
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with engine.connect() as conn:
        for created, client, role, kind, status in conn.execute(q):
            key = (created.date().isoformat(), client or UNKNOWN, role or "-")
            counts[key]["admin" if kind == "admin" else str(status)] += 1
    out = []
    for (day, client, role), by in sorted(counts.items()):
        refused = sum(n for k, n in by.items() if k != "admin")
        out.append(
            {
                "day": day,
                "client_id": client,
                "role": role,
                "refused": refused,
                "401": by.get("401", 0),
                "403": by.get("403", 0),
                "404": by.get("404", 0),
                "admin": by.get("admin", 0),
            }
        )
    return out


@audit_app.command("report")
def report_cmd(
    days: int = typer.Option(30, "--days", min=1, max=3650, help="How many days back."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Refusals (401, 403, commune-scoped 404) and admin actions per client and day."""
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import check_current
    from vbsp_state.settings import get_state

    engine = make_engine(get_state().db_url)
    try:
        check_current(engine)
    except RuntimeError as err:
        Console(stderr=True).print(f"[red]error[/]: {err}", soft_wrap=True)
        raise typer.Exit(2) from None
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    rows = summarise(engine, since)
    engine.dispose()
    if as_json:
        for row in rows:
            console.print(json.dumps(row), soft_wrap=True, highlight=False, markup=False)
        return
    if not rows:
        console.print(f"no refusals or admin actions in the last {days} days")
        return
    table = Table(title=f"security log, last {days} days (UTC days)")
    for col in rows[0]:
        table.add_column(
            col, justify="right" if col[0].isdigit() or col in ("refused", "admin") else "left"
        )
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Attach ``audit`` to the root CLI."""
    app.add_typer(audit_app, name="audit")
