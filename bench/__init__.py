"""The benchmark: a deterministic data set, a check that peers agree, and a wrk-driven runner."""
