"""A job's sub-tasks as a tree, from the ``children`` each job records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_NODES = 200


@dataclass
class Node:
    id: str
    task: str | None
    state: str | None
    children: list[Node] = field(default_factory=list)


def child_ids(doc: Mapping[str, Any]) -> list[str]:
    """In the order spawned."""
    children: Mapping[str, Mapping[str, Any]] = doc.get("children") or {}
    return sorted(children, key=lambda cid: float(children[cid].get("at") or 0.0))


def build_tree(root: Mapping[str, Any], docs: Mapping[str, Mapping[str, Any]]) -> Node:
    """``docs`` holds the descendants read so far by id; one missing shows as a leaf without state.
    A cycle (which ids make impossible, but a hand-edited database might hold) stops at a repeat."""
    seen = {str(root["_id"])}

    def node(doc: Mapping[str, Any]) -> Node:
        out = Node(str(doc["_id"]), doc.get("task"), doc.get("state"))
        for cid in child_ids(doc):
            if cid in seen or len(seen) >= MAX_NODES:
                continue
            seen.add(cid)
            found = docs.get(cid)
            out.children.append(node(found) if found is not None else Node(cid, None, None))
        return out

    return node(root)
