"""The source systems gridhub syncs, by name → the adapter package serving each.

Kept free of imports so the CLI can list sources without loading any adapter. Each package
exposes ``create_adapter(config)``; its config is the settings field of the same name.
"""

from __future__ import annotations

SOURCES: dict[str, str] = {
    "hukou": "adapters.hukou",
    "civil_affairs": "adapters.civil_affairs",
    "hotline": "adapters.hotline",
    "health": "adapters.health",
    "utility": "adapters.utility",
}
