"""The store's defaults, in a module light enough for ``snap --help`` to import alone."""

#: New files larger than this are left out of a capture (and reported).
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024
#: How long a writer waits for the store's lock, in seconds.
DEFAULT_LOCK_TIMEOUT = 60.0
#: The name of the newest snapshot.
LATEST = "latest"
#: The name ``snap diff`` takes for the working tree as it is now.
WORKTREE_NAME = "worktree"
