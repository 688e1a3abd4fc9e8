"""Session state and button callbacks of the Label feedback page.

Callbacks run before the page re-runs, so the next item is on screen at once after a
click. Every save goes through :mod:`services.labels.save` (the role is checked there); what
happened is left in session state as a message the page shows once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from dashboard.data import forget_label_figures
from dashboard.format import md_text
from services.access import PermissionDenied, Principal
from services.labels.importer import ImportConflictError, LabelImportError, import_labels
from services.labels.queue import mark_unsure
from services.labels.save import (
    Conflict,
    LabelEdit,
    LabelError,
    LabelsNotSavedError,
    keep_labels,
    save_labels,
)

__all__ = [
    "CONFLICTS",
    "EDITS",
    "GENERATION",
    "IMPORT_ERRORS",
    "IMPORT_OPEN",
    "IMPORT_RESULT",
    "SEEN",
    "SKIPPED",
    "Flash",
    "apply_conflict_choices",
    "collect_table_edits",
    "forget_import",
    "import_file",
    "label_one",
    "pending_edits",
    "save_table",
    "show_flash",
    "show_import_result",
    "skip_one",
    "unsure_one",
]

#: ``{prediction_id: label}`` edited in the table and not saved yet (tests seed it).
EDITS = "labeling-edits"
#: ``{prediction_id: revision or None}``: the stored revision each shown row had.
SEEN = "labeling-seen"
#: Prediction ids skipped in this sitting (left out of the queue until the page reloads).
SKIPPED = "labeling-skipped"
#: Conflicts of the last save, waiting for the labeler's choice.
CONFLICTS = "labeling-conflicts"
_FLASH = "labeling-flash"
#: The bad rows of the last refused import, for the page to list.
IMPORT_ERRORS = "labeling-import-errors"
#: What the last import did, shown beside the upload (not at the top of the page).
IMPORT_RESULT = "labeling-import-result"
#: Set once the labeler used the import: its section then stays open (a rerun that
#: changed ``expanded`` would fold it away under their hands).
IMPORT_OPEN = "labeling-import-open"
#: Bumped after a table save so the editor starts again from the store.
GENERATION = "labeling-generation"


@dataclass(frozen=True)
class Flash:
    """A message for the next run: ``kind`` is success, warning or error."""

    kind: str
    text: str


def _flash(kind: str, text: str) -> None:
    st.session_state[_FLASH] = Flash(kind, text)


def show_flash() -> None:
    """Show (once) what the last click did."""
    flash = st.session_state.pop(_FLASH, None)
    if flash is None:
        return
    icon = {"success": ":material/check_circle:", "warning": ":material/warning:",
            "error": ":material/error:"}[flash.kind]
    # The messages embed prediction ids, labels, file names and errors: shown as text.
    getattr(st, flash.kind)(md_text(flash.text), icon=icon)


def pending_edits() -> dict[str, str]:
    """The table edits not saved yet."""
    edits: dict[str, str] = st.session_state.setdefault(EDITS, {})
    return edits


def _save(engine: Engine, actor: Principal, edits: list[LabelEdit], *,
          replace: bool = False) -> bool:
    """Save and report; ``True`` when nothing is left to do (saved, or conflicts kept)."""
    try:
        result = save_labels(engine=engine, actor=actor, edits=edits,
                             replace_conflicts=replace)
    except (LabelError, PermissionDenied) as exc:
        _flash("error", f"Not saved: {exc}")
        return False
    except LabelsNotSavedError as exc:
        _flash("error", f"{str(exc).capitalize()}. Your choices are kept on screen.")
        return False
    if result.saved:
        # Quality figures read the labels: drop cached ones so every page moves at once.
        forget_label_figures()
    if result.conflicts:
        st.session_state[CONFLICTS] = list(result.conflicts)
        _flash("warning", f"{len(result.conflicts)} of your labels were not saved: someone "
                          "else labelled the same predictions meanwhile. Choose below.")
    else:
        saved = f"{result.saved} label{'s' if result.saved != 1 else ''} saved"
        same = f"; {result.unchanged} already had that label" if result.unchanged else ""
        _flash("success", saved + same + ".")
    return True


def label_one(engine: Engine, actor: Principal, prediction_id: str, label: str,
              revision: int | None) -> None:
    """One-at-a-time view: save ``label`` for the shown prediction."""
    _save(engine, actor, [LabelEdit(prediction_id, label, revision)])


def skip_one(prediction_id: str) -> None:
    """Leave the prediction for later (this sitting only)."""
    skipped: list[str] = st.session_state.setdefault(SKIPPED, [])
    skipped.append(prediction_id)
    del skipped[:-500]  # bounded: the queue query carries the list


def unsure_one(engine: Engine, actor: Principal, prediction_id: str) -> None:
    """"Can't tell": the prediction leaves this labeler's queue for good."""
    try:
        mark_unsure(engine=engine, actor=actor, prediction_id=prediction_id)
    except (LabelError, PermissionDenied) as exc:
        _flash("error", f"Not recorded: {exc}")
        return
    except LabelsNotSavedError as exc:
        _flash("error", f"{str(exc).capitalize()}.")
        return
    _flash("success", "Marked as \"can't tell\": it will not come back to your queue.")


def collect_table_edits(editor_key: str, ids: list[str]) -> None:
    """``on_change`` of the table: keep its edited cells as ``{prediction_id: label}``."""
    state: Mapping[str, Any] = st.session_state.get(editor_key, {})
    edits = pending_edits()
    for position, cells in state.get("edited_rows", {}).items():
        pid = ids[int(position)]
        label = cells.get("Label")
        if label:
            edits[pid] = str(label)
        elif "Label" in cells:
            edits.pop(pid, None)


def save_table(engine: Engine, actor: Principal) -> None:
    """Save every pending table edit in one transaction."""
    edits = pending_edits()
    seen: dict[str, int | None] = st.session_state.get(SEEN, {})
    if not edits:
        _flash("warning", "Nothing to save: pick a label in the Label column first.")
        return
    batch = [LabelEdit(pid, label, seen.get(pid)) for pid, label in edits.items()]
    if _save(engine, actor, batch):
        edits.clear()
        st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def apply_conflict_choices(engine: Engine, actor: Principal,
                           choices: Mapping[str, bool]) -> None:
    """Keep or replace each conflicting label (``True``: replace with mine)."""
    conflicts: list[Conflict] = st.session_state.get(CONFLICTS, [])
    replace = [LabelEdit(c.prediction_id, c.your_label, c.stored_revision)
               for c in conflicts if choices.get(c.prediction_id)]
    keep = [c for c in conflicts if not choices.get(c.prediction_id)]
    try:
        kept = keep_labels(engine=engine, actor=actor, conflicts=keep) if keep else 0
    except LabelsNotSavedError as exc:
        _flash("error", f"{str(exc).capitalize()}. Your choices are kept on screen.")
        return
    if replace and not _save(engine, actor, replace):
        return
    if CONFLICTS in st.session_state and st.session_state[CONFLICTS] is conflicts:
        del st.session_state[CONFLICTS]
    if not replace:
        _flash("success", f"Kept {kept} stored label{'s' if kept != 1 else ''}.")


def _import_flash(kind: str, text: str) -> None:
    st.session_state[IMPORT_RESULT] = Flash(kind, text)


def show_import_result() -> bool:
    """Show what the last import did (until the next import); ``False`` when none yet."""
    flash = st.session_state.get(IMPORT_RESULT)
    if flash is None:
        return False
    getattr(st, flash.kind)(md_text(flash.text))
    return True


def forget_import() -> None:
    """A new file was chosen: the last import's outcome no longer applies."""
    st.session_state[IMPORT_OPEN] = True
    st.session_state.pop(IMPORT_RESULT, None)
    st.session_state.pop(IMPORT_ERRORS, None)


def import_file(engine: Engine, actor: Principal, name: str, data: bytes,
                replace: bool) -> None:
    """Import a label CSV file: every row or none; bad rows are kept for the page to list."""
    st.session_state[IMPORT_OPEN] = True
    st.session_state.pop(IMPORT_ERRORS, None)
    try:
        result = import_labels(engine=engine, actor=actor, data=data, filename=name,
                               replace=replace)
    except ImportConflictError as exc:
        st.session_state[IMPORT_ERRORS] = exc.errors
        _import_flash("warning", f"Nothing imported: {exc.summary}. Tick \"Replace\" to "
                                 "overwrite them, or remove those rows.")
        return
    except LabelImportError as exc:
        st.session_state[IMPORT_ERRORS] = exc.errors
        _import_flash("error", f"Nothing imported: {exc.summary}. Fix the file and upload "
                               "it again.")
        return
    except PermissionDenied as exc:
        _import_flash("error", f"Nothing imported: {exc}")
        return
    except LabelsNotSavedError as exc:
        _import_flash("error", f"Nothing imported: {exc}.")
        return
    if result.saved:
        forget_label_figures()
    others = (f" {result.named_others:,} rows named another labeler, which only an admin "
              "may do: their labels count as yours." if result.named_others else "")
    _import_flash("success", f"Imported {name}: {result.rows:,} rows, {result.saved:,} labels "
                             f"stored ({result.replaced:,} replaced), {result.unchanged:,} "
                             "already so." + others)
