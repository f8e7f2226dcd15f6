"""Operator permissions: verbs on objects, granted through realm roles by configuration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

__all__ = ["Permission", "RolePermissions"]


class Permission(StrEnum):
    CUSTOMER_CREATE = "CUSTOMER_CREATE"
    CUSTOMER_READ = "CUSTOMER_READ"
    CUSTOMER_UPDATE = "CUSTOMER_UPDATE"
    ACCOUNT_READ = "ACCOUNT_READ"
    DEPOSIT_CREATE = "DEPOSIT_CREATE"
    WITHDRAWAL_CREATE = "WITHDRAWAL_CREATE"
    AUDIT_READ = "AUDIT_READ"
    QUEUE_READ = "QUEUE_READ"  # SAQ's web UI: queues, jobs, retries, failures
    QUEUE_MANAGE = "QUEUE_MANAGE"  # ... and its retry and abort buttons


class RolePermissions:
    def __init__(self, mapping: Mapping[str, Iterable[str]]) -> None:
        table: dict[str, frozenset[Permission]] = {}
        for role, names in mapping.items():
            try:
                table[role] = frozenset(Permission(name) for name in names)
            except ValueError as exc:
                raise ValueError(f"ROLE_PERMISSIONS: role {role!r} names an unknown permission ({exc})") from exc
        self._table = table

    def granted(self, roles: Iterable[str]) -> frozenset[Permission]:
        permissions: set[Permission] = set()
        for role in roles:
            permissions |= self._table.get(role, frozenset())
        return frozenset(permissions)
