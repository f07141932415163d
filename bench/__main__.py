"""`python -m bench [--quick]`: the same as `python bench/run.py`."""

from bench.run import main

main()
