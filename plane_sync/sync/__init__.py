"""One pass over one target (the engine), the state database, and folder -> work item
targets: ties core, local, remote and config together. Never imports service or above."""
