"""Load while a sync runs: the query API and gRPC at a fixed request rate from a second
process, while ``gridhub sync`` writes into the same PostgreSQL store (issue 11, part 4)."""
