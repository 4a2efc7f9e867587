"""The environment a child starts with: a fresh copy, never the live ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Git's repository-location variables (``git rev-parse --local-env-vars``). Inherited, they
#: would point our git at someone else's repository or index (an agent running inside a git
#: hook has ``GIT_INDEX_FILE`` set), so they are scrubbed unless a caller passes them itself.
GIT_LOCATION_VARIABLES = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
    }
)

EnvOverrides = Mapping[str, str | None]


def child_environment(overrides: EnvOverrides | None = None) -> dict[str, str]:
    """A fresh environment: the inherited one less Git's location variables, then ``overrides``.

    An override of ``None`` removes that variable; explicit overrides win over the scrubbing.
    """
    env = {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
