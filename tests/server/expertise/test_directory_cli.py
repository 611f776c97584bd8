"""``lucarne directory import`` and ``lucarne create-user --rpps`` as an administrator runs them."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from expertise.models import Professional
from server.platform.models import User

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"


def lucarne(args: list[str], database_url: str, tmp_path: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUCARNE_DATABASE_URL": database_url, "LUCARNE_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run([sys.executable, "-m", "server", *args], input=stdin, env=env, cwd=ROOT,
                            capture_output=True, timeout=90)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


async def count(sessions: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Professional)) or 0)


async def test_import_command_reports_and_writes_rejects(db: Any, database_url: str, tmp_path: Path) -> None:
    _, sessions = db
    bad = tmp_path / "PS_LibreAcces_Personne_activite_bad.txt"
    shutil.copy(DATA / bad.name, bad)
    # The file's last line is cut on purpose: refused unless accepted.
    dry = lucarne(["directory", "import", str(bad), "--dry-run", "--accept-truncated"], database_url, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would be inserted 3" in dry.stdout and "9 lines rejected" in dry.stdout
    assert await count(sessions) == 0

    done = lucarne(["directory", "import", str(bad), "--accept-truncated"], database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "inserted 3" in done.stdout and "9 lines rejected" in done.stdout
    rejects = tmp_path / (bad.name + ".rejects.csv")
    assert str(rejects) in done.stdout
    rows = list(csv.reader(rejects.open(encoding="utf-8")))
    assert rows[0] == ["line", "reason", "content"] and len(rows) == 10
    assert await count(sessions) == 3

    fhir = lucarne(["directory", "import", str(DATA / "directory_bundle.json"), "--rejects",
                    str(tmp_path / "fhir.csv")], database_url, tmp_path)
    assert fhir.returncode == 0, fhir.stderr
    assert "inserted 2" in fhir.stdout and "4 lines rejected" in fhir.stdout
    assert await count(sessions) == 5


async def test_a_file_without_the_required_columns_is_refused(db: Any, database_url: str, tmp_path: Path) -> None:
    _, sessions = db
    wrong = tmp_path / "other.txt"
    wrong.write_text("a|b|c\n1|2|3\n", "utf-8")
    result = lucarne(["directory", "import", str(wrong)], database_url, tmp_path)
    assert result.returncode == 2
    assert "lacks required column" in result.stderr and "nothing was written" in result.stderr
    assert await count(sessions) == 0
    missing = lucarne(["directory", "import", str(tmp_path / "absent.txt")], database_url, tmp_path)
    assert missing.returncode == 2 and "is not a file" in missing.stderr


async def test_create_user_links_an_rpps(db: Any, database_url: str, tmp_path: Path) -> None:
    _, sessions = db
    made = lucarne(["create-user", "moreau", "--name", "Dr Inès Moreau", "--role", "specialist", "--rpps",
                    "10000000027"], database_url, tmp_path, stdin=b"a long password\n")
    assert made.returncode == 0, made.stderr
    assert "RPPS 10000000027" in made.stdout
    twice = lucarne(["create-user", "moreau2", "--name", "X", "--rpps", "10000000027"], database_url, tmp_path,
                    stdin=b"a long password\n")
    assert twice.returncode == 2 and "already taken" in twice.stderr
    short = lucarne(["create-user", "moreau3", "--name", "X", "--rpps", "123"], database_url, tmp_path,
                    stdin=b"a long password\n")
    assert short.returncode == 2 and "11 digits" in short.stderr
    async with sessions() as session:
        assert await session.scalar(select(User.rpps).where(User.username == "moreau")) == "10000000027"
