"""``vbsp-risk plan``: a commune's inspection visit plan for a month, printed and stored."""

from __future__ import annotations

import secrets

import typer
from rich.table import Table

from vbsp_risk import options

console = options.console()


def plan_cmd(
    commune: str = typer.Option(..., "--commune", help="Commune id, e.g. C01."),
    month: str = typer.Option(..., "--month", help="Month to plan, YYYY-MM."),
    capacity: int = typer.Option(8, "--capacity", min=1, max=60, help="Visits per day."),
    days: int = typer.Option(3, "--days", min=1, max=20, help="Days available in the commune."),
    sort: str = typer.Option(
        "risk", "--sort", help="risk or exposure (probability × outstanding)."
    ),
    random_share: float = typer.Option(
        0.10, "--random-share", min=0.0, max=0.5, help="Share of visits drawn at random."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed of the random draw."),
    transaction_day: int | None = typer.Option(
        None, "--transaction-day", min=1, max=28, help="Default: the data folder's communes table."
    ),
    save: bool = typer.Option(True, "--save/--dry-run", help="Store the plan in the database."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the month's plan (no outcomes)."
    ),
    lang: str = typer.Option("vi", "--lang", help="Language of the reasons: vi or en."),
) -> None:
    """Plan a commune's visits for a month from the champion's latest portfolio scores: by risk or
    expected exposure plus a random share, grouped by village, around the transaction day."""
    from mlflow import MlflowClient

    from serving import plan_store, planner
    from serving.settings import ServiceSettings
    from training.tracking import tracking_uri
    from vbsp_state.engine import make_engine

    if sort not in planner.SORTS or lang not in ("vi", "en"):
        raise typer.BadParameter("--sort must be risk or exposure, --lang vi or en")
    settings = ServiceSettings()
    uri = settings.tracking_uri or tracking_uri(settings.state_dir)
    name = settings.portfolio_model
    version = (
        MlflowClient(tracking_uri=uri, registry_uri=uri)
        .get_model_version_by_alias(name, settings.model_alias)
        .version
    )
    places = plan_store.read_places(settings.state_dir / "data" / "district")
    day = transaction_day or places.transaction_days.get(commune)
    if day is None:
        raise typer.BadParameter(f"transaction day of {commune} unknown; give --transaction-day")
    engine = make_engine(settings.db_url)
    as_of, candidates = plan_store.load_candidates(engine, name, str(version), commune)
    if as_of is None:
        console.print(f"[red]no portfolio scores of {name} v{version} for {commune}[/]")
        raise typer.Exit(1)
    request = planner.PlanRequest(
        month,
        day,
        capacity,
        days,
        sort,
        random_share,
        seed if seed is not None else secrets.randbelow(2**31),
    )
    visits = planner.build_plan(candidates, request)
    table = Table(title=f"{commune} {month}: {len(visits)} visits ({name} v{version}, {as_of})")
    for col in ("date", "village", "group", "household", "p", "selection", "why"):
        table.add_column(col, no_wrap=col in ("date", "household", "p"))
    for v in visits.to_dict("records"):
        table.add_row(
            str(v["visit_date"]) + (" *" if v["visit_date"].day == day else ""),
            places.village_names.get(v["village_id"], v["village_id"]),
            v["group_id"],
            v["household_id"],
            f"{v['probability']:.1%}",
            v["selection"],
            planner.reason_text(v["reason"], lang),
        )
    console.print(table)
    console.print("* the commune's transaction day")
    if not save:
        return
    existing = plan_store.find_plan(engine, commune, month)
    if existing is not None:
        if not replace:
            console.print(f"[red]{commune} already has plan {existing} for {month} (--replace)[/]")
            raise typer.Exit(1)
        plan_store.delete_plan(engine, existing)
    n_random = int((visits["selection"] == "random").sum())
    plan_id = plan_store.save_plan(
        engine,
        commune,
        request,
        visits,
        name,
        str(version),
        "cli",
        {
            "scores_as_of": as_of.isoformat(),
            "households": len(candidates),
            "random_visits": n_random,
            "dates": sorted(d.isoformat() for d in planner.plan_dates(month, day, days)),
        },
    )
    console.print(f"[green]plan {plan_id}[/] stored; page: /ui/plans/{plan_id}")


def register(app: typer.Typer) -> None:
    """Attach the command to the root CLI."""
    app.command("plan")(plan_cmd)
