"""Identity-resolution benchmark: gridhub against Splink on FEBRL, side by side.

Run ``python -m bench.resolution --help``.  Both tools get the same in-memory data in the
same process, interleaved run by run, so machine load (other jobs on a shared 2-core box)
hits both alike; timing starts once the data is a DataFrame and stops when the tool has
its predictions (gridhub: clusters as well, which Splink's figure does not include).
"""
