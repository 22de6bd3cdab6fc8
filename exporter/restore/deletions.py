"""Deletions carried to the target: a record deleted from the source since it was restored
is put in the target's own inactive or archived state (``--deletions archive``, the
default), removed (``delete``), or left alone (``keep``).

- archive: a rule with ``inactive = { field = value }`` (``medication_active = "false"``)
  gets that value written; otherwise the writer archives the record (HubSpot's archived
  state, restorable for 90 days; Salesforce's recycle bin; a CSV row is removed).
- delete: the writer removes the record.

Only records the archive holds as deleted (tombstones) as of the restored run, deleted
after the restore run that last wrote them, are carried: a record a ``where`` filter leaves
out, one never archived, or one a restore brought back after its deletion (a same-vendor
``--as-of`` before a mass delete) is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.archive import IdMapEntry
from exporter.errors import AuthError, QuotaExhausted, SourceError
from exporter.restore.mapping import ObjectRule
from exporter.restore.plan import Context
from exporter.writer import WriteItem, WriteResult, chunks

__all__ = ["DELETION_MODES", "Deletions", "carry_deletions"]

DELETION_MODES = ("archive", "delete", "keep")
INACTIVE = "inactive"  # the hash of an id-map row whose record was made inactive


@dataclass
class Deletions:
    """What one rule's deletions came to."""

    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source id, message)


def deleted_since(ctx: Context, rule: ObjectRule) -> list[IdMapEntry]:
    """Id-map rows of records the archive holds as deleted (as of the restored run)."""
    ids = ctx.id_map(rule.stream, rule.object)
    if not ids:
        return []
    # By the tombstone's flag, not its data: a Salesforce record read from the recycle bin
    # (queryAll, IsDeleted) keeps its last data in the tombstone.
    gone = ctx.archive.deletions(ctx.source, rule.stream, ctx.as_of)
    # Only deletions after the restore wrote the record: one the restore brought back since
    # (a same-vendor restore --as-of before a mass delete) is never deleted again.
    written = ctx.archive.id_map_runs(ctx.target, ctx.identity, ctx.source, rule.stream,
                                      rule.object)
    return [e for sid, e in ids.items() if sid in gone and e.target_id and e.hash != INACTIVE
            and gone[sid][0] > (written.get(sid) or 0)]


def carry_deletions(ctx: Context, rule: ObjectRule, mode: str, run_id: int | None,
                    batch_size: int) -> Deletions:
    """Carry one rule's deletions by ``mode``; the id map follows (dropped when removed,
    marked when made inactive)."""
    out = Deletions()
    if mode == "keep":
        return out
    todo = deleted_since(ctx, rule)
    for batch in chunks(todo, batch_size):
        try:
            if mode == "archive" and _inactive_state(rule):
                results = ctx.writer.write(rule.object, [_inactive(ctx, rule, e) for e in batch])
            else:
                results = ctx.writer.remove(rule.object, [str(e.target_id) for e in batch],
                                            [e.source_id for e in batch])
        except (AuthError, QuotaExhausted):
            raise
        except (SourceError, NotImplementedError) as exc:
            message = str(exc) or f"{ctx.target} cannot remove records"
            out.failed += [(e.source_id, message) for e in batch]
            continue
        _settle(ctx, rule, mode, batch, {r.key: r for r in results}, out, run_id)
    return out


def _inactive_state(rule: ObjectRule) -> bool:
    """Whether the rule's records can be marked inactive: it names the state, and its key
    (if any) is the source id the planner gives, which a deleted record still has (a key
    mapped from the record's own fields went with the record)."""
    return bool(rule.inactive) and rule.key not in {f.target for f in rule.fields}


def _inactive(ctx: Context, rule: ObjectRule, e: IdMapEntry) -> WriteItem:
    key = f"{ctx.source}/{rule.stream}/{e.source_id}" if rule.key else None
    fields = {**rule.inactive, **({rule.key: key} if rule.key else {})}
    return WriteItem(e.source_id, fields, target_id=e.target_id, key_value=key)


def _settle(ctx: Context, rule: ObjectRule, mode: str, batch: list[IdMapEntry],
            results: dict[str, WriteResult], out: Deletions, run_id: int | None) -> None:
    ids = ctx.id_map(rule.stream, rule.object)
    inactive, removed = [], []
    for e in batch:
        r = results.get(e.source_id)
        if r is None or r.error:
            out.failed.append((e.source_id, r.error if r and r.error else
                               "the target did not answer for this deletion"))
            continue
        out.done += 1
        if mode == "archive" and _inactive_state(rule):
            inactive.append(IdMapEntry(e.source, e.stream, e.source_id, e.target_object,
                                       e.target_id, INACTIVE))
        else:
            removed.append(e)
    with ctx.archive.transaction():
        ctx.archive.put_id_map(ctx.target, inactive, run_id, ctx.identity)
        ctx.archive.drop_id_map(ctx.target, removed, ctx.identity)
    for e in inactive:
        ids[e.source_id] = e
    for e in removed:
        ids.pop(e.source_id, None)
