"""Every approvable change, and the only code in Regent that mutates anything outside it.

The protocol is in `base.py` (`Change`, `ChangeKind`, the card's `ChangeView`, `ChangeServices`), the
registered kinds in `kinds.py`, and the one store that loads any change by (kind, id) in `store.py`.
Kinds: `retention.py` (a retention plan: deletes manifests by digest), `suspension.py` (a Portainer user
suspension), `ticket.py` (a ticket in the configured tracker), `gc.py` (garbage collection on a registry
in a Portainer environment; executor in `gc_steps.py`) and `stack_update.py` (a registry's stack file: a
pull-through cache configuration, its revert), all but the first built on the stored Actions of
`actions.py` through `action_kind.py`; `registry_host.py` operates a registry's container or stack
through Portainer, `compose_edit.py` edits a stack file as text.

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
