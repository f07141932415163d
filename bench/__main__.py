"""`python -m bench [--quick | --smoke]`: the same as `python bench/run.py`."""

from bench.run import main

main()
