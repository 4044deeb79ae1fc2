"""Official weights on demand: where they live, what can be fetched, downloading, installing, and
which weights a command uses when none are named (`dannasep weights`)."""
