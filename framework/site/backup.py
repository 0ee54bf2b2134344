"""Backups of a site's evidence that restore: a consistent store copy, the anchor, the key sealed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from watchkeeper import __version__
from watchkeeper.core.i18n import N_, Text
from watchkeeper.core.models import Secret
from watchkeeper.evidence.anchor import GENESIS, Anchor, Head, write_anchor
from watchkeeper.evidence.journal import Journal, Verification
from watchkeeper.site.agefile import MAX_WORK_FACTOR, Problem, SealError, open_sealed, seal
from watchkeeper.site.app import App
from watchkeeper.site.config import ConfigError, Site, load_site

STORE = "store.db"
#: The config (which may hold device passwords) and the journal key, sealed together in age's format
#: at a fixed scrypt cost (agefile.SEAL_WORK_FACTOR, seconds per seal or open), so one sealed file,
#: opened once per command.
SEALED = "sealed.age"
ANCHOR = "journal.head"
MANIFEST = "manifest.json"
PREFIX = "watchkeeper-backup-"
#: Pages copied per step of SQLite's online backup; between steps `run` keeps writing.
PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A backup could not be taken, or a backup does not verify; the message says which file and why."""


@attrs.frozen
class BackupCheck:
    """What verifying a backup found: the journal's head in it and the row count of every table."""

    folder: Path
    verification: Verification
    counts: dict[str, int]
    manifest: dict[str, Any]
    config_text: bytes = attrs.field(repr=False)
    key: Secret = attrs.field(repr=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _table_counts(connection: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


class _ReadOnlyStore:
    """Just enough of a Store for `Journal.verify`: a connection that cannot write."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def copy_backup(site: Site, folder: Path, passphrase: Secret, actor: str) -> Path:
    """Copy the store (online, while others write), the config and the key (sealed), and the anchor.

    Uses its own connection, so it may run in a worker thread beside the appliance. The copy is
    made in a hidden folder and renamed into place when complete, so a backup that is listed is whole.
    """
    if not passphrase.reveal():
        raise BackupError(N_("the backup passphrase is empty"))
    if site.source is None:
        raise BackupError(N_("the site was not loaded from a file, so there is no config to back up"))
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{PREFIX}{stamp}"
    partial = Path(tempfile.mkdtemp(prefix=f".{PREFIX}", dir=folder))
    try:
        with closing(sqlite3.connect(site.store, timeout=30)) as source, \
                closing(sqlite3.connect(partial / STORE)) as target:
            # SQLite's online backup: a consistent snapshot even while `run` appends to the journal.
            source.backup(target, pages=PAGES_PER_STEP)
            head = target.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
            counts = _table_counts(target)
        # The anchor of this copy is its own head (MACed under the key): the live anchor may already be ahead.
        key = bytes.fromhex(site.journal_key.read_text(encoding="ascii").strip())
        write_anchor(partial / ANCHOR, key, Anchor(Head(head[0], head[1]) if head else Head(0, GENESIS)))
        sealed = json.dumps({"config": Path(site.source).read_text(encoding="utf-8"),
                             "journal_key": site.journal_key.read_text(encoding="ascii").strip()})
        _fsync_write(partial / SEALED, seal(sealed.encode("utf-8"), passphrase.reveal()))
        manifest = {
            "site": site.name, "taken_at": datetime.now(timezone.utc).isoformat(), "taken_by": actor,
            "watchkeeper": __version__, "journal_head": {"seq": head[0], "hash": head[1]} if head else None,
            "counts": counts,
            "files": {name: _sha256(partial / name) for name in (STORE, SEALED, ANCHOR)},
        }
        _fsync_write(partial / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def journal_backup(app: App, backup: Path, actor: str) -> None:
    """Record who took the backup, the journal head it holds and its manifest's hash."""
    manifest = _manifest(backup)
    app.journal.append("operation", actor, str(backup), {
        "backup": backup.name, "journal_head": manifest.get("journal_head"),
        "manifest_sha256": _sha256(backup / MANIFEST)})


def take_backup(app: App, folder: Path, passphrase: Secret, actor: str) -> Path:
    """Copy and journal a backup of the opened site (the caller has authorised the actor)."""
    made = copy_backup(app.site, folder, passphrase, actor)
    journal_backup(app, made, actor)
    return made


def _manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(N_("{backup}: no {manifest}: not a watchkeeper backup, or an unfinished one", backup=str(backup),
                              manifest=MANIFEST)) from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(N_("{file}: not valid JSON", file=str(backup / MANIFEST))) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BackupError(N_("{file}: has no file list", file=str(backup / MANIFEST)))
    return manifest


def _unsealed(path: Path, error: SealError) -> Text:
    """What stopped the sealed file opening, said truly: only a stanza that does not authenticate is the passphrase."""
    mebibytes = (1 << (error.work_factor or 0)) // 1024  # scrypt with r=8 holds 1 KiB per unit of N
    if error.problem is Problem.WRONG_PASSPHRASE:
        return N_("{file}: the passphrase does not open it (wrong passphrase, or altered)", file=str(path))
    if error.problem is Problem.TOO_COSTLY:
        return N_("{file}: sealed with scrypt work factor {factor} ({mib} MiB), above the {most} watchkeeper computes; "
                  "the passphrase was not tried", file=str(path),
                  factor=error.work_factor, mib=mebibytes, most=MAX_WORK_FACTOR)
    if error.problem is Problem.NO_MEMORY:
        return N_("{file}: this machine could not give scrypt the {mib} MiB its work factor {factor} needs; "
                  "the passphrase was not tried", file=str(path), mib=mebibytes, factor=error.work_factor)
    if error.problem is Problem.ALTERED:
        return N_("{file}: the passphrase is right, but the file was altered after it was sealed", file=str(path))
    return N_("{file}: not a passphrase-sealed age file, or its header is damaged", file=str(path))


def verify_backup(backup: Path, passphrase: Secret) -> BackupCheck:
    """Check a backup without changing it: file hashes, the sealed key, and the journal chain and anchor."""
    manifest = _manifest(backup)
    for name in (STORE, SEALED, ANCHOR):
        if not (backup / name).is_file():
            raise BackupError(N_("{backup}: {name} is missing", backup=str(backup), name=name))
        if manifest["files"].get(name) != _sha256(backup / name):
            raise BackupError(N_("{backup}: {name} does not match its hash in the manifest (altered)", backup=str(backup),
                                  name=name))
    try:
        sealed = json.loads(open_sealed((backup / SEALED).read_bytes(), passphrase.reveal()))
        key = Secret(str(sealed["journal_key"]))
        bytes.fromhex(key.reveal())
        config_text = str(sealed["config"]).encode("utf-8")
    except SealError as error:
        raise BackupError(_unsealed(backup / SEALED, error)) from None
    except (ValueError, KeyError, TypeError):
        raise BackupError(N_("{file}: does not hold a config and a journal key", file=str(backup / SEALED))) from None
    store = _ReadOnlyStore(backup / STORE)
    try:
        verification = Journal(store, key, anchor=backup / ANCHOR).verify()  # type: ignore[arg-type]
        counts = _table_counts(store.conn)
    except sqlite3.DatabaseError as error:
        raise BackupError(N_("{file}: not a readable SQLite store ({error})", file=str(backup / STORE),
                              error=type(error).__name__)) from None
    finally:
        store.conn.close()
    if not verification.ok:
        problem = verification.problem
        raise BackupError(N_("{backup}: its journal does not verify: entry {seq}: {problem}", backup=str(backup),
                             seq=problem.seq if problem else "?", problem=problem.reason if problem else "?"))
    head = manifest.get("journal_head") or {}
    if head and (head.get("seq"), head.get("hash")) != (verification.head_seq, verification.head_hash):
        raise BackupError(N_("{backup}: its journal head is not the one the manifest recorded", backup=str(backup)))
    if manifest.get("counts") != counts:
        raise BackupError(N_("{backup}: its tables do not hold the rows the manifest counted", backup=str(backup)))
    return BackupCheck(backup, verification, counts, manifest, config_text, key)


def backup_site(check: BackupCheck, beside: Path) -> Site:
    """The backup's own config, loaded as if it were at `beside` (its relative paths resolve there).

    The decrypted text lives only in a private temporary file next to `beside`, removed at once.
    """
    beside.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".restoring", dir=beside.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(check.config_text)
        try:
            site = load_site(name)
        except ConfigError as error:
            raise BackupError(N_("{folder}: its config does not load: {error}", folder=str(check.folder),
                                      error=error.render())) from None
    finally:
        os.unlink(name)
    return attrs.evolve(site, source=beside)


def restore_files(check: BackupCheck, store: Path, key: Path, anchor: Path, config: Path | None = None,
                  replace: bool = False) -> None:
    """Put a verified backup's store, key and anchor (and config, if asked) where the site expects them.

    Refuses an existing store unless `replace`, which keeps the old files beside (renamed), never
    deleting them.
    """
    if store.exists() and not replace:
        raise BackupError(N_("{store} exists; restore with --replace to keep it aside and restore over it", store=str(store)))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stale = [store.with_name(store.name + suffix) for suffix in ("-wal", "-shm")]
    for path in (store, key, anchor, *stale, *((config,) if config else ())):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.replace(path, path.with_name(f"{path.name}.replaced-{stamp}"))
    shutil.copyfile(check.folder / STORE, store)
    _fsync_write(key, (check.key.reveal() + "\n").encode("ascii"))
    _fsync_write(anchor, (check.folder / ANCHOR).read_bytes(), 0o600)
    if config is not None:
        _fsync_write(config, check.config_text, 0o600)


def backups(folder: Path) -> list[Path]:
    """The complete backups in a folder, oldest first (hidden, unfinished ones are not listed)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if path.is_dir() and path.name.startswith(PREFIX) and (path / MANIFEST).is_file())


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups; returns what was removed."""
    found = backups(folder)
    removed = found[: max(0, len(found) - keep)]
    for path in removed:
        shutil.rmtree(path)
    return removed
