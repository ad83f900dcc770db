"""Model editing: DEPN (zero the activations of privacy neurons), at runtime or persistently."""

from arx.methods.editing.depn import EditError, edited, persistent_edit, save_edited

__all__ = ["EditError", "edited", "persistent_edit", "save_edited"]
