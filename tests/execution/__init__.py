"""The execution wing (graph/execution/): the query lane, the level-wise executor, the limits."""
