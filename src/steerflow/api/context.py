"""Who is asking: the project a request acts for and whether it is admin."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Context:
    """The caller of one request, as auth resolved it."""

    project_id: str = DEFAULT_PROJECT
    is_admin: bool = False
    roles: tuple[str, ...] = field(default_factory=tuple)
    user_id: str = ""

    @classmethod
    def admin(cls, project_id: str = DEFAULT_PROJECT) -> Context:
        return cls(project_id=project_id, is_admin=True, roles=("admin",))

    def can_see(self, owner_project: str) -> bool:
        """Admin sees everything; others only their own project's resources."""
        return self.is_admin or owner_project == self.project_id
