"""Every approvable change, and the only code in Regent that mutates anything outside it.

The protocol is in `base.py` (`Change`, `ChangeKind`, the card's `ChangeView`, `ChangeServices`), the
registered kinds in `kinds.py`, and the one store that loads any change by (kind, id) in `store.py`.
Kinds: `retention.py` (a retention plan: deletes manifests by digest), `suspension.py` (a Portainer user
suspension) and `ticket.py` (a ticket in the configured tracker), the last two built on the stored
Actions of `actions.py` through `action_kind.py`.

Adding a kind of change:
1. a module `tools/changes/<kind>.py`: what builds the change (read-only; for an Action-based kind,
   `actions.new_action(kind=NAME, ...)` with one labelled item per change), and a kind object with `name`,
   `table`, `view`, `run`, `outcome`, `created_audit`, `done_audit` (subclass
   `action_kind.ActionChangeKind`: set `name` and the words, write `facts` and `run`, where `run`
   re-validates each item against the live system and acts through `actions.run_action`, once);
2. one line in `kinds.py`'s `KINDS`.
Approvals, the Slack card, `regent chat`, the audit vocabulary and the exactly-once bookkeeping need no
change. A proposing tool (tools/toolbox) hands the change to the context's `propose` hook.
"""
