"""Memory across runs: what a run teaches (learn), what Plan is told (recall), and `ae memory`."""
