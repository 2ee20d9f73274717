"""One protocol per module; each has ``cluster(n, *, seed=0, **options) -> Simulation``."""
