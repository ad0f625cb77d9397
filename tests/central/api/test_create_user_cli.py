"""``gatepost central create-user``: the first admin comes from the command line, never a default password."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from central import audit
from central.auth.models import User
from central.auth.passwords import verify_password
from central.db.session import make_engine, make_sessions
from edge.cli import cli


def test_first_admin_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    runner = CliRunner()
    weak = runner.invoke(
        cli,
        ["central", "create-user", "boss", "--role", "admin", "--db-url", url],
        input="1234\n1234\n",
    )
    assert weak.exit_code != 0 and "at least 10 characters" in weak.output
    ok = runner.invoke(
        cli,
        ["central", "create-user", "boss", "--role", "admin", "--name", "王经理", "--db-url", url],
        input="a-strong-passphrase\na-strong-passphrase\n",
    )
    assert ok.exit_code == 0, ok.output
    assert "created admin boss" in ok.output and "a-strong-passphrase" not in ok.output
    again = runner.invoke(
        cli,
        ["central", "create-user", "boss", "--role", "guard", "--db-url", url],
        input="another-passphrase\nanother-passphrase\n",
    )
    assert again.exit_code != 0 and "already exists" in again.output
    engine = make_engine(url)
    with make_sessions(engine)() as db:
        (user,) = db.scalars(select(User)).all()
        assert (user.username, user.role, user.display_name) == ("boss", "admin", "王经理")
        assert verify_password(user.password_hash, "a-strong-passphrase")
        assert [e.action for e in audit.entries(db, actor="cli")] == ["user.create"]
    engine.dispose()
