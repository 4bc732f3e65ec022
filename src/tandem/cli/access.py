"""`tandem users ...`, `tandem tokens ...`, `tandem members ...` and `tandem audit`.

On an embedded workspace you act as its owner (you hold its files), so this is how the first
admin is made: `tandem users create alice --role admin --password-stdin`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, err_console, get_client, handle_errors, print_json
from tandem.cli.output import project_name as resolve_project
from tandem.core.auth import Role
from tandem.core.clock import format_ms, now_ms, parse_duration
from tandem.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ROLES = ", ".join(role.value for role in Role)

users_app = typer.Typer(help="Create, list, disable and enable users (workspace admins).", no_args_is_help=True)  # fmt: skip
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
members_app = typer.Typer(help="Who belongs to a project, with which role.", no_args_is_help=True)


def _role(value: str | None) -> Role | None:
    return None if value is None else Role.parse(value)


def _read_password(from_stdin: bool, ask: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("--password-stdin: no password on standard input")
        return password
    if ask:
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return None


# -- users ------------------------------------------------------------------------------------


@users_app.command("create")
@handle_errors
def create_user(
    name: str,
    role: Annotated[str, typer.Option("--role", "-r", help=f"workspace role: {ROLES}; admin manages everything")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the web sign-in password from stdin")] = False,
    password: Annotated[bool, typer.Option("--password", help="ask for a web sign-in password")] = False,
    display_name: Annotated[str, typer.Option("--display-name", help="full name shown in the web UI")] = "",
    email: Annotated[str, typer.Option("--email", help="e-mail address for alerts")] = "",
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Create a user. Without a password they can use API tokens only."""
    chosen = _role(role) or Role.VIEWER
    secret = _read_password(password_stdin, password)
    user = get_client().users.create(
        name, role=chosen, password=secret, display_name=display_name, email=email
    )
    if as_json:
        print_json(user)
    else:
        console.print(f"created user {user.name} ({user.role.value})")
    if _is_first_user(user.name):
        err_console.print(first_user_note(user.name, user.has_password), soft_wrap=True)


def _is_first_user(name: str) -> bool:
    listed = get_client().users.list(limit=2).items
    return [u.name for u in listed] == [name]


def first_user_note(name: str, has_password: bool) -> str:
    """What the first user changes: a loopback `tandem server` is no longer open."""
    web = (
        f"sign in to the web UI as {name} with that password"
        if has_password
        else "the web UI needs a user with a password (`tandem users create NAME --role admin "
        "--password`)"
    )
    return escape(
        f"note: {name} is the first user, so `tandem server` on loopback now asks everyone to "
        f"sign in: {web}; the CLI and SDK take a token (`tandem tokens create NAME --user "
        f"{name}`, then TANDEM_URL and TANDEM_TOKEN); here, without TANDEM_URL, you still act "
        "as the workspace owner"
    )


@users_app.command("list")
@handle_errors
def list_users(
    limit: Annotated[int, typer.Option("--limit", "-n", help="page size")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """List users."""
    page = get_client().users.list(cursor=cursor, limit=limit)
    if as_json:
        print_json(page)
        return
    table = Table("name", "role", "display name", "email", "created", "disabled", "password")
    for u in page.items:
        table.add_row(
            u.name,
            u.role.value,
            escape(u.display_name),
            escape(u.email),
            format_ms(u.created_at),
            format_ms(u.disabled_at),
            "yes" if u.has_password else "no",
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


@users_app.command("disable")
@handle_errors
def disable_user(name: str, as_json: JsonOpt = False) -> None:
    """Disable a user: their tokens and sessions stop working at once."""
    user = get_client().users.disable(name)
    if as_json:
        print_json(user)
    else:
        console.print(f"disabled user {user.name}")


@users_app.command("enable")
@handle_errors
def enable_user(name: str, as_json: JsonOpt = False) -> None:
    """Enable a disabled user again (their old tokens work again unless revoked)."""
    user = get_client().users.enable(name)
    if as_json:
        print_json(user)
    else:
        console.print(f"enabled user {user.name}")


@users_app.command("whoami")
@handle_errors
def whoami(as_json: JsonOpt = False) -> None:
    """Who you are to this workspace or server, and your role in each project."""
    me = get_client().users.me()
    if as_json:
        print_json(me)
        return
    admin = " (admin)" if me.is_admin else ""
    console.print(f"{me.name}{admin}, signed in via {me.via}")
    for project, role in sorted(me.roles.items()):
        console.print(f"  {project}: {role.value}")


@users_app.command("password")
@handle_errors
def change_password(
    stdin: Annotated[bool, typer.Option("--stdin", help="read the current and the new password from stdin, one a line")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Change your own web sign-in password; your other sessions are signed out."""
    if stdin:
        current = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
        if not current or not new:
            raise InvalidInput("--stdin: give the current and the new password, one a line")
    else:
        current = str(typer.prompt("current password", hide_input=True))
        new = str(typer.prompt("new password", hide_input=True, confirmation_prompt=True))
    get_client().users.change_password(current, new)
    if as_json:
        print_json({"password_changed": True})
    else:
        console.print("password changed; your other sessions are signed out")


# -- tokens -----------------------------------------------------------------------------------


@tokens_app.command("create")
@handle_errors
def create_token(
    name: str,
    user: Annotated[str | None, typer.Option("--user", "-u", help="whose token (admins; required on an embedded workspace)")] = None,
    expires_in: Annotated[str, typer.Option("--expires-in", help="lifetime, e.g. 30m, 8h, 30d, 12w; 'never' for none")] = "90d",
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Create an API token. Its secret is printed once: store it now (TANDEM_TOKEN)."""
    seconds = None if expires_in == "never" else parse_duration(expires_in)
    created = get_client().tokens.create(
        name, user=user, expires_in_days=None, expires_in_seconds=seconds
    )
    if as_json:
        print_json(created)
        return
    err_console.print(
        f"created token {created.token.id} for {created.token.user}, expires "
        f"{format_ms(created.token.expires_at) if created.token.expires_at else 'never'}. "
        "The secret below is shown once:"
    )
    console.print(created.secret)


@tokens_app.command("list")
@handle_errors
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", "-u", help="admins: whose tokens, or '*' for everyone's")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """List API tokens (never their secrets)."""
    items = get_client().tokens.list(user)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no tokens")
        return
    table = Table("id", "name", "user", "created", "expires", "last used", "revoked")
    for t in items:
        table.add_row(
            t.id,
            escape(t.name),
            t.user,
            format_ms(t.created_at),
            format_ms(t.expires_at),
            format_ms(t.last_used_at),
            format_ms(t.revoked_at),
        )
    console.print(table)


@tokens_app.command("revoke")
@handle_errors
def revoke_token(token_id: str, as_json: JsonOpt = False) -> None:
    """Revoke an API token: it stops working at once."""
    token = get_client().tokens.revoke(token_id)
    if as_json:
        print_json(token)
    else:
        console.print(f"revoked token {token.id} ({escape(token.name)}) of {token.user}")


# -- members ----------------------------------------------------------------------------------

ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT)")]  # fmt: skip


@members_app.command("list")
@handle_errors
def list_members(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List a project's members and their roles."""
    members = get_client().members.list(resolve_project(project))
    if as_json:
        print_json(members)
        return
    table = Table("user", "role", "since")
    for m in members:
        table.add_row(m.user, m.role.value, format_ms(m.created_at))
    console.print(table)


@members_app.command("set")
@handle_errors
def set_member(
    user: str,
    role: Annotated[str | None, typer.Option("--role", "-r", help=f"{ROLES} (default: the user's workspace role)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Add a user to a project, or change their role in it."""
    name = resolve_project(project)
    member = get_client().members.set(name, user, _role(role))
    if as_json:
        print_json(member)
    else:
        console.print(f"{member.user} is {member.role.value} in {name}")


@members_app.command("remove")
@handle_errors
def remove_member(user: str, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Remove a user from a project."""
    name = resolve_project(project)
    get_client().members.remove(name, user)
    if as_json:
        print_json({"project": name, "removed": user})
    else:
        console.print(f"removed {user} from {name}")


# -- audit ------------------------------------------------------------------------------------


@handle_errors
def audit(
    project: ProjectOpt = None,
    all_projects: Annotated[bool, typer.Option("--all", help="the whole workspace (admins)")] = False,
    since: Annotated[str | None, typer.Option("--since", help="how far back, e.g. 7d, 12h")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="only this user's events")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. run.create, or run. for all run actions")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="ok, denied or failed")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="page size")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Read the audit log, newest first: who did what, when, from where."""
    name = None if all_projects else resolve_project(project)
    since_ms = now_ms() - parse_duration(since) * 1000 if since else None
    page = get_client().audit.list(
        name,
        since=since_ms,
        actor=actor,
        action=action,
        outcome=outcome,
        cursor=cursor,
        limit=limit,
    )
    if as_json:
        print_json(page)
        return
    if not page.items:
        console.print("no events")
        return
    table = Table("when", "who", "via", "from", "action", "outcome", "project", "target")
    for e in page.items:
        table.add_row(
            format_ms(e.at),
            escape(e.actor),
            e.via,
            escape(e.source),
            escape(e.action),
            e.outcome,
            e.project or "-",
            escape(e.target),
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")
