"""Command-line verbs: ``flask --app app db|bpmn|demo|timers|audit …``."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from engine import ChainBreak, InvalidDiagram, upgrade_schema
from engine import worker as timer_worker

from . import demo, workflow_engine
from .serving import freeze_startup_objects

db_cli = AppGroup("db", help="Database schema.")
bpmn_cli = AppGroup("bpmn", help="Deploy BPMN and DMN files.")
demo_cli = AppGroup("demo", help="Demo data for trying the product.")
timers_cli = AppGroup("timers", help="The timer worker.")
audit_cli = AppGroup("audit", help="The audit trail's integrity.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the newest revision."""
    upgrade_schema(current_app.config["DATABASE_URL"])
    click.echo("database schema is up to date")


@bpmn_cli.command("deploy")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default=None, help="Deployment name (default: the first file's name).")
@click.option("--changed-only", is_flag=True, help="Skip processes whose files did not change.")
def bpmn_deploy(files: tuple[str, ...], name: str | None, changed_only: bool) -> None:
    """Deploy FILES as new versions; running instances keep theirs."""
    contents = {Path(f).name: Path(f).read_bytes() for f in files}
    try:
        deployment = workflow_engine().deploy(
            contents, name=name or Path(files[0]).stem, source="cli",
            duplicate_filtering=True, changed_only=changed_only)
    except InvalidDiagram as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None
    verb = "unchanged" if deployment.duplicate else "deployed"
    for definition in deployment.definitions:
        click.echo(f"{verb} {definition.key} version {definition.version} ({definition.id})")


@demo_cli.command("load")
@click.option("--history", is_flag=True, help="Also replay six weeks of past operations (for the dashboard).")
def demo_load(history: bool) -> None:
    """Deploy bpmn/ and create demo requests in several states (once)."""
    for line in demo.load(workflow_engine(), Path(current_app.root_path) / "bpmn", history=history):
        click.echo(line)


@timers_cli.command("fire-due")
def timers_fire_due() -> None:
    """Fire every timer that is due now, once, and exit."""
    click.echo(f"advanced {timer_worker.sweep(workflow_engine())} instance(s)")


@timers_cli.command("run")
@click.option("--max-interval", default=30.0, show_default=True,
              help="Longest sleep between sweeps, in seconds.")
def timers_run(max_interval: float) -> None:
    """Run the timer worker until interrupted (SIGINT or SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)  # the library logs every task state change
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    engine = workflow_engine()
    click.echo(f"timer worker started: {freeze_startup_objects()} start-up objects frozen")
    timer_worker.run(engine, stop=stop, max_interval=max_interval)
    click.echo("timer worker stopped")


_BREAKS = {
    ChainBreak.PREVIOUS_HASH: "its prev_hash is not the hash of the entry before it (an entry "
                              "in between was removed, or the one before was altered and re-hashed)",
    ChainBreak.CONTENT: "its content does not match its hash (it was edited after it was written)",
    ChainBreak.HEAD: "the trail does not end where the chain head says "
                     "(entries at the end were removed, or added around the application)",
}


@audit_cli.command("verify")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Entries read at a time.")
def audit_verify(batch_size: int) -> None:
    """Check the audit trail's hash chain; exit status 1 at the first broken link."""
    report = workflow_engine().verify_audit_chain(batch_size=batch_size)
    if report.ok:
        click.echo(f"audit trail intact: {report.checked} entries checked")
        return
    where = "the chain head" if report.first_broken_id is None else f"entry {report.first_broken_id}"
    after = f" after entry {report.previous_id}" if report.previous_id is not None else ""
    click.echo(f"audit trail broken at {where}{after} ({report.checked} entries checked): "
               f"{_BREAKS[report.reason]}", err=True)
    raise SystemExit(1)


def register(app: Flask) -> None:
    for group in (db_cli, bpmn_cli, demo_cli, timers_cli, audit_cli):
        app.cli.add_command(group)
