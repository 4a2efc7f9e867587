"""The regression suite: a model-checked, Git-checked, fault-injected proof of the store."""
